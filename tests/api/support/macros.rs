//! The scenario macros: one test body run on each backend, and on each
//! backend with each shared session store. Exported at the crate root, so a
//! module calls `on_both_backends! { ... }` after `use crate::on_both_backends`.

/// Runs a scenario once on each backend: `mod name { fn sqlite; fn postgres }`.
#[macro_export]
macro_rules! on_both_backends {
    ($(async fn $name:ident($app:ident: TestApp) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                async fn scenario($app: $crate::support::TestApp) $body
                #[tokio::test]
                async fn sqlite() {
                    scenario($crate::support::TestApp::spawn($crate::support::Backend::Sqlite).await).await
                }
                #[tokio::test]
                async fn postgres() {
                    scenario($crate::support::TestApp::spawn($crate::support::Backend::Postgres).await).await
                }
            }
        )*
    };
}

/// Runs a scenario on each backend with each shared session store:
/// Redis (`sqlite`, `postgres`) and the shop's own database
/// (`sqlite_database_store`, `postgres_database_store`, whose session Redis
/// is an address where nothing listens, so nothing of the session can
/// come from there).
#[macro_export]
macro_rules! on_both_backends_and_stores {
    ($(async fn $name:ident($app:ident: TestApp) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                async fn scenario($app: $crate::support::TestApp) $body
                #[tokio::test]
                async fn sqlite() {
                    scenario($crate::support::TestApp::spawn($crate::support::Backend::Sqlite).await).await
                }
                #[tokio::test]
                async fn postgres() {
                    scenario($crate::support::TestApp::spawn($crate::support::Backend::Postgres).await).await
                }
                #[tokio::test]
                async fn sqlite_database_store() {
                    let app = $crate::support::TestApp::spawn_configured(
                        $crate::support::Backend::Sqlite,
                        $crate::support::store::database_store,
                    );
                    scenario(app.await).await
                }
                #[tokio::test]
                async fn postgres_database_store() {
                    let app = $crate::support::TestApp::spawn_configured(
                        $crate::support::Backend::Postgres,
                        $crate::support::store::database_store,
                    );
                    scenario(app.await).await
                }
            }
        )*
    };
}
