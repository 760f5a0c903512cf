//! Generated gRPC and message types of every Lambda service.
//!
//! Each protobuf package is a module here, versioned the way its package is
//! (`lambda.kv.v1` → [`kv::v1`]). [`FILE_DESCRIPTOR_SET`] holds the compiled
//! descriptors of all of them; servers hand it to `tonic-reflection` so tools
//! such as `grpcurl` can list and call the services without `.proto` files.
#![allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]

/// The encoded `FileDescriptorSet` of every Lambda protobuf package.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("lambda_descriptor");

/// The public key-value API (`lambda.kv.v1`).
pub mod kv {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("lambda.kv.v1");
    }
}

/// Stored object and causal-context encodings (`lambda.storage.v1`).
pub mod storage {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("lambda.storage.v1");
    }
}

/// The Lambda chain (`lambda.chain.v1`): blocks and transactions, consensus
/// messages and the validator-to-validator services (consensus, mempool
/// gossip), and the public `Chain` API.
pub mod chain {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("lambda.chain.v1");
    }
}

/// The internal replica protocol and the admin API (`lambda.node.v1`).
pub mod node {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("lambda.node.v1");
    }
}

/// The agent daemon's ingest and query API (`lambda.agent.v1`).
pub mod agent {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("lambda.agent.v1");
    }
}

/// Provable data possession: tag metadata, tags, challenges, proofs and the
/// `Prover` service (`lambda.pdp.v1`).
pub mod pdp {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("lambda.pdp.v1");
    }
}

pub mod billing {
    pub mod v1 {
        tonic::include_proto!("lambda.billing.v1");
    }
}
