//! The store's integration tests, in one binary (one link step); each runs on
//! a fresh SQLite file and a fresh PostgreSQL database.
mod conformance;
mod load;
mod migrations;
mod slow;
