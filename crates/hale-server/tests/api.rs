//! REST API tests through the router.
