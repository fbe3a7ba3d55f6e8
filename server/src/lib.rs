//! The server: configuration, start-up and the command line. `main` and every
//! test build the application through [`startup::Application::build`].
pub mod assets;
pub mod cli;
pub mod config;
pub mod mail;
pub mod startup;
pub mod worker;
