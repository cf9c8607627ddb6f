//! The integration tests, one binary: the support harness (real
//! `docker-registry` processes, a token server, the fault proxy, skopeo,
//! the cluster API stand-in) is compiled once and its registries are
//! shared by every test. One module per topic.

mod support;

mod check;
mod cli;
mod container;
mod convert;
mod faults;
mod fuzz_regressions;
mod golden;
mod migrate;
mod projects;
mod realworld;
