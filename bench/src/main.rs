//! Placeholder until the load benchmark lands.
fn main() {}
