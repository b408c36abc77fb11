//! Measures the round-trip time the latency emulator really adds: one byte bounced
//! off an echo server through a `LatencyProxy`, many times, at RTT 0, 2 and 20 ms.
//!
//! `cargo run --release -p ovirt-tests --example emulator-rtt`

use std::time::{Duration, Instant};

use ovirt_tests::latency::LatencyProxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    for rtt_ms in [0u64, 2, 20] {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let upstream = listener.local_addr()?;
        let proxy = LatencyProxy::start(upstream, Duration::from_millis(rtt_ms)).await?;
        tokio::spawn(async move {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let _ = stream.set_nodelay(true);
            let mut byte = [0u8; 1];
            while stream.read_exact(&mut byte).await.is_ok() {
                if stream.write_all(&byte).await.is_err() {
                    break;
                }
            }
        });
        let mut client = TcpStream::connect(proxy.addr()).await?;
        client.set_nodelay(true)?;
        let rounds = if rtt_ms >= 20 { 50 } else { 300 };
        let mut samples = Vec::with_capacity(rounds);
        for i in 0..rounds {
            let start = Instant::now();
            client.write_all(&[i as u8]).await?;
            let mut byte = [0u8; 1];
            tokio::time::timeout(Duration::from_secs(10), client.read_exact(&mut byte))
                .await
                .map_err(|_| std::io::Error::other("no echo within 10 s"))??;
            samples.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        samples.sort_by(f64::total_cmp);
        let mean = samples.iter().sum::<f64>() / rounds as f64;
        println!(
            "rtt {rtt_ms} ms: measured mean {mean:.3} ms, min {:.3}, median {:.3}, max {:.3}",
            samples[0],
            samples[rounds / 2],
            samples[rounds - 1]
        );
    }
    Ok(())
}
