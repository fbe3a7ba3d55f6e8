//! The command line's tasks besides serving. Exit codes scripts can rely on:
//! 0 success; 1 the file has errors (nothing was, or would be, changed); 2 wrong
//! usage; 3 a file or the database could not be reached, or a load was given up.
pub mod accounts;
pub mod cancel;
pub mod import;
pub mod validate;

pub const EXIT_OK: i32 = 0;
pub const EXIT_INVALID: i32 = 1;
pub const EXIT_UNAVAILABLE: i32 = 3;

/// Says that `--tenant` names no tenant, and gives the exit code for it.
pub fn no_tenant(slug: &str) -> i32 {
    eprintln!("no tenant with the slug {slug:?}");
    EXIT_INVALID
}
