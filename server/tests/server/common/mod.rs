//! What the server's integration tests share.
#![allow(dead_code)]
pub mod smtp;
