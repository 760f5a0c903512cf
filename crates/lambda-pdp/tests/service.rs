#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
//! The `Prover` gRPC service over TCP on 127.0.0.1: a validator-side client
//! derives a challenge with the `Challenger`, asks a storage node's
//! `ProverService` (here over a `MemorySource`) and verifies the answer; and
//! each refusal carries the right status code.

use std::sync::Arc;
use std::time::Duration;

use lambda_pdp::{
    Backend, BlockSource, Challenger, KeyPair, MemorySource, PdpError, ProverService,
    SignedMetadata, Tag, Tagger, Verifier, wire,
};
use lambda_proto::pdp::v1 as pb;
use pb::prover_client::ProverClient;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::Code;
use tonic::transport::{Channel, Server};

async fn serve<S: BlockSource>(source: Arc<S>, backend: Backend) -> ProverClient<Channel> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        Server::builder()
            .add_service(
                ProverService::new(source)
                    .with_backend(backend)
                    .into_server(),
            )
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30));
    ProverClient::new(endpoint.connect().await.unwrap())
}

fn request(object: &[u8], digest: &[u8], challenge: &lambda_pdp::Challenge) -> pb::ProveRequest {
    pb::ProveRequest {
        object: object.to_vec(),
        metadata_digest: digest.to_vec(),
        challenge: Some(challenge.into()),
    }
}

#[tokio::test]
async fn validator_challenges_node_and_verifies_over_grpc() {
    let tagger = Tagger::new(KeyPair::generate());
    let data: Vec<u8> = (0..31 * 8 * 100 + 5).map(|i| (i % 253) as u8).collect();
    let obj = tagger.tag(b"contract-7/object", &data, 8).unwrap();
    // The chain registers the encoded metadata; validators decode it.
    let registered = wire::encode_metadata(&obj.metadata);
    let source = Arc::new(MemorySource::new());
    source.insert(obj, data).unwrap();
    for backend in Backend::ALL {
        grpc_round(serve(Arc::clone(&source), backend).await, &registered).await;
    }
}

async fn grpc_round(mut client: ProverClient<Channel>, registered: &[u8]) {
    let verifier = Verifier::new(&wire::decode_metadata(registered).unwrap()).unwrap();
    let challenge = Challenger::new(40)
        .unwrap()
        .challenge(b"contract-7", 3, &[0xab; 32]);
    let resp = client
        .prove(request(b"contract-7/object", verifier.digest(), &challenge))
        .await
        .unwrap()
        .into_inner();
    let proof = lambda_pdp::Proof::try_from(&resp.proof.unwrap()).unwrap();
    verifier.verify(&challenge, &proof).unwrap();

    // Unknown object, other metadata version, malformed challenge.
    let err = client
        .prove(request(b"nope", verifier.digest(), &challenge))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    let err = client
        .prove(request(b"contract-7/object", &[0; 32], &challenge))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    let mut bad = request(b"contract-7/object", verifier.digest(), &challenge);
    bad.challenge.as_mut().unwrap().seed.pop();
    let err = client.prove(bad).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("challenge seed"),
        "{}",
        err.message()
    );
    let mut none = request(b"contract-7/object", verifier.digest(), &challenge);
    none.challenge = None;
    assert_eq!(
        client.prove(none).await.unwrap_err().code(),
        Code::InvalidArgument
    );
}

/// A source that lost some blocks of the objects it holds.
struct Lossy {
    inner: MemorySource,
    lost: Vec<u64>,
}

impl BlockSource for Lossy {
    fn metadata(&self, object: &[u8]) -> Result<Option<SignedMetadata>, PdpError> {
        self.inner.metadata(object)
    }
    fn block(&self, object: &[u8], index: u64) -> Result<Option<Vec<u8>>, PdpError> {
        if self.lost.contains(&index) {
            Ok(None)
        } else {
            self.inner.block(object, index)
        }
    }
    fn tag(&self, object: &[u8], index: u64) -> Result<Option<Tag>, PdpError> {
        self.inner.tag(object, index)
    }
}

#[tokio::test]
async fn a_node_missing_a_challenged_block_answers_data_loss() {
    let tagger = Tagger::new(KeyPair::generate());
    let data: Vec<u8> = (0..31 * 20).map(|i| i as u8).collect();
    let obj = tagger.tag(b"obj", &data, 1).unwrap();
    let digest = obj.metadata.metadata().digest();
    let inner = MemorySource::new();
    inner.insert(obj, data).unwrap();
    // Challenge every block, so the lost one is always named.
    let challenge = Challenger::new(20).unwrap().challenge(b"c", 1, &[1; 32]);
    let mut client = serve(
        Arc::new(Lossy {
            inner,
            lost: vec![11],
        }),
        Backend::default(),
    )
    .await;
    let err = client
        .prove(request(b"obj", &digest, &challenge))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DataLoss);
    assert!(
        err.message().contains("data of block 11 is missing"),
        "{}",
        err.message()
    );
}
