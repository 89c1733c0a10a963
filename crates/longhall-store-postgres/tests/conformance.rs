//! The shared backend conformance suite, run against a fresh PostgreSQL database per case.

mod support;

use support::fresh_store;

longhall_store_tests::conformance_suite!(fresh_store);
