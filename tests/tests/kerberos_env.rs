//! Kerberos login with the library's defaults, as users have it: the realm from
//! `KRB5_CONFIG` and the ticket from the cache `KRB5CCNAME` names (no `kerberos_ccache`).
//! The one test of this binary sets those process-wide variables, so no other test can
//! race with it; its KDC is its own, stopped when the test ends.
//!
//! Built only with `--features kerberos`; skips without the MIT KDC (fails with CI=true).

use ovirt::Connection;
use ovirt_test_engine::TestEngine;
use ovirt_tests::kdc::{kdc_or_skip, Kdc};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kerberos_login_uses_the_cache_named_by_krb5ccname() {
    if !kdc_or_skip("kerberos_login_uses_the_cache_named_by_krb5ccname") {
        return;
    }
    let kdc = Kdc::start("ENV.OVIRT.TEST").expect("KDC");
    kdc.add_user("carol", "carol-password").expect("user");
    let keytab = kdc.add_service("HTTP/localhost").expect("service");
    let ccache = kdc.dir().join("carol.ccache");
    kdc.use_in_this_process();

    let engine = TestEngine::builder()
        .negotiate_keytab(&keytab)
        .start()
        .await
        .expect("engine");
    let connection = Connection::builder()
        .url(engine.url_localhost())
        .kerberos(true)
        .build()
        .expect("build");

    // KRB5CCNAME names a cache that does not exist yet: no credentials.
    std::env::set_var("KRB5CCNAME", format!("FILE:{}", ccache.display()));
    let err = connection.test().await.expect_err("no ticket yet");
    assert!(err.to_string().contains("run `kinit`"), "{err}");

    // After kinit into that cache the same connection logs in.
    kdc.kinit("carol", "carol-password", &ccache, None)
        .expect("kinit");
    connection
        .test()
        .await
        .expect("login with the default cache");
    assert_eq!(engine.http_auth_users(), ["carol@ENV.OVIRT.TEST"]);
    connection.close().await.expect("logout");
    engine.shutdown().await;
}
