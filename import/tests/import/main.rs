//! The import engine's integration tests, in one binary (one link step).
mod conformance;
mod plan;
mod properties;
