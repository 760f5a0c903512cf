//! The gRPC server: the KV service, the admin service, the replica service
//! (in a cluster), the PDP prover, `grpc.health.v1` health and server
//! reflection on one TCP listener, with graceful shutdown.
//!
//! On shutdown the server stops accepting connections and waits for
//! in-flight requests to finish before `serve` returns.

use lambda_proto::billing::v1::billing_server::BillingServer;

use lambda_pdp::ProverService;
use lambda_proto::kv::v1::kv_server::KvServer;
use lambda_proto::node::v1::admin_server::AdminServer;
use lambda_proto::node::v1::replica_server::ReplicaServer;
use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

use crate::api::KvService;
use crate::chain::join::GatedReplica;

use crate::billing::BillingService;
use crate::cluster::admin::AdminService;
use crate::cluster::replica_service::ReplicaService;
use crate::config::LimitsConfig;
use crate::pdp_source::PdpSource;

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The reflection service could not be built from the descriptors.
    #[error("reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The transport failed.
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// The services a node serves.
#[derive(Debug)]
pub struct Services {
    /// The public KV API.
    pub kv: KvService,
    /// The admin API.
    pub admin: AdminService,
    /// Replica calls from peers (cluster mode only).
    pub replica: Option<ReplicaService>,
    /// Chain mode: replica calls behind peer authentication, served once
    /// the node has joined (takes the place of `replica`).
    pub gated_replica: Option<GatedReplica>,

    /// Billing info and usage (chain mode only).
    pub billing: Option<BillingService>,

    /// Answers PDP challenges from the local store.
    pub prover: ProverService<PdpSource>,
}

/// Serves `services` with health and reflection on `listener` until
/// `shutdown` fires, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    services: Services,
    limits: &LimitsConfig,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter.set_serving::<KvServer<KvService>>().await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(lambda_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(lambda_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let kv = KvServer::new(services.kv)
        .max_decoding_message_size(limits.max_request_bytes)
        .max_encoding_message_size(limits.max_request_bytes);
    let gated = services.gated_replica;
    let replica = services.replica.filter(|_| gated.is_none()).map(|r| {
        ReplicaServer::new(r)
            .max_decoding_message_size(limits.max_request_bytes)
            .max_encoding_message_size(limits.max_request_bytes)
    });
    // Replies are small writes: without TCP_NODELAY, Nagle's algorithm and
    // delayed ACKs add ~40 ms to a request.
    let incoming = TcpListenerStream::new(listener).map(|conn| {
        if let Ok(stream) = &conn {
            let _ = stream.set_nodelay(true);
        }
        conn
    });
    tonic::transport::Server::builder()
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(kv)
        .add_service(AdminServer::new(services.admin))
        .add_optional_service(replica)
        .add_optional_service(gated)
        .add_optional_service(services.billing.map(BillingServer::new))
        .add_service(services.prover.into_server())
        .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
        .await?;
    Ok(())
}
