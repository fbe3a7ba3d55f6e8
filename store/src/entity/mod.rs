//! One module per table. Only the columns the code reads are mapped by later
//! tables' entities as they gain services; the schema itself is in `muster-migrations`.
pub mod organisation;
pub mod platform_admin;
pub mod session;
pub mod tenant;
pub mod user;
