use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mail_outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// What the mail is about, e.g. `order-confirmation:SF-7K2M9QX4`; one
    /// row per key, however often it is enqueued.
    #[sea_orm(unique)]
    pub dedupe_key: String,
    /// The recipient as a mailbox, e.g. `Ada <ada@example.com>`.
    #[sea_orm(column_type = "Text")]
    pub recipient: String,
    #[sea_orm(column_type = "Text")]
    pub subject: String,
    #[sea_orm(column_type = "Text")]
    pub body_text: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub body_html: Option<String>,
    pub created_at: DateTimeUtc,
    /// Delivery attempts that failed so far.
    pub attempts: i32,
    /// Unix milliseconds; the row is due from then. NULL: sent, or given up.
    pub next_attempt_at: Option<i64>,
    /// Unix milliseconds; a deliverer holds the row until then.
    pub claimed_until: Option<i64>,
    pub sent_at: Option<DateTimeUtc>,
    /// Why the last attempt failed.
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
