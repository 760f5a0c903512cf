//! `lambda-agent`: the agent daemon (being built).

fn main() {}
