//! The server's integration tests, in one binary (one link step): the command
//! line, the web server over HTTP, and loads that survive crashes.
mod cli;
mod common;
mod crash;
mod web;
