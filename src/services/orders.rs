//! Orders: placing one (stock taken, prices snapshotted, the confirmation
//! queued, all in one transaction), moving it through its states, and
//! reading it back for its owner and for admins.
//!
//! Stock is taken by one conditional `UPDATE … WHERE stock >= quantity` per
//! line, in product-id order, so two orders lock rows in the same order and
//! cannot deadlock, and no interleaving can take more than there is. Each
//! statement returns the row as it now is, so the name and price a line
//! snapshots are the ones the stock was taken from, never a cache's.
//! SeaORM runs such statements without hooks, so this module records the
//! cache tags itself, by projection (`Tag::for_stock`): an order that
//! leaves a product's band alone retires no listing.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
};

use crate::cache::{Cache, Tag, outbox};
use crate::domain::order::{IdempotencyKey, Line, OrderNumber, OrderRequest, OrderStatus, Shipping};
use crate::domain::{FieldErrors, Money, PageRequest};
use crate::error::AppError;
use crate::mail::{self, Mailer, OutgoingMail};
use crate::models::_entities::{order, order_line};
use crate::models::begin_immediate;
use crate::models::product_entity;
use crate::services::writes::apply_invalidations;
use crate::state::PublicUrl;

/// What placing or moving an order works with: the database, the cache it
/// keeps current, the mailer it wakes after commit, and the shop's origin
/// for the link in the confirmation.
#[derive(Clone)]
pub struct OrderDesk {
    pub db: DatabaseConnection,
    pub cache: Cache,
    pub mailer: Mailer,
    pub base: PublicUrl,
}

/// Who places or asks for an order.
#[derive(Clone, Debug, Default)]
pub struct Owner {
    /// The signed-in user, if any.
    pub user_id: Option<i32>,
    /// The session's owner key (see `AuthSession::owner_key`), if it has one.
    pub session_key: Option<String>,
}

impl Owner {
    /// Where an idempotency key is unique: a user's, a session's, or the
    /// one space of API clients without credentials.
    fn scope(&self) -> String {
        match (&self.user_id, &self.session_key) {
            (Some(id), _) => format!("user:{id}"),
            (None, Some(key)) => format!("session:{key}"),
            (None, None) => "guest".to_owned(),
        }
    }

    /// Whether this is who placed `order`: the user it was placed by, or
    /// the session that placed it.
    pub fn owns(&self, order: &OrderView) -> bool {
        let by_user = order.user_id.is_some() && order.user_id == self.user_id;
        let by_session = order.owner_key.is_some() && order.owner_key == self.session_key;
        by_user || by_session
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderLineView {
    pub product_id: Option<i32>,
    pub name: String,
    pub unit_price: Money,
    pub quantity: u32,
    pub line_total: Money,
}

/// An order as its owner and admins see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderView {
    pub number: String,
    pub status: OrderStatus,
    pub email: String,
    pub ship_name: String,
    pub ship_line1: String,
    pub ship_line2: String,
    pub ship_city: String,
    pub ship_postal_code: String,
    pub ship_country: String,
    pub lines: Vec<OrderLineView>,
    pub total: Money,
    pub user_id: Option<i32>,
    pub owner_key: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl OrderView {
    fn from_models(o: order::Model, lines: Vec<order_line::Model>) -> Result<OrderView, AppError> {
        let money = |cents: i64| {
            Money::from_cents(cents).map_err(|e| AppError::Internal(format!("order {} holds {cents}: {e}", o.number)))
        };
        let lines = lines
            .into_iter()
            .map(|l| {
                Ok(OrderLineView {
                    product_id: l.product_id,
                    name: l.name,
                    unit_price: money(l.unit_price_cents)?,
                    quantity: u32::try_from(l.quantity).unwrap_or(0),
                    line_total: money(l.line_total_cents)?,
                })
            })
            .collect::<Result<Vec<_>, AppError>>()?;
        let status = OrderStatus::parse(&o.status)
            .ok_or_else(|| AppError::Internal(format!("order {} has status {:?}", o.number, o.status)))?;
        Ok(OrderView {
            total: money(o.total_cents)?,
            number: o.number,
            status,
            email: o.email,
            ship_name: o.ship_name,
            ship_line1: o.ship_line1,
            ship_line2: o.ship_line2,
            ship_city: o.ship_city,
            ship_postal_code: o.ship_postal_code,
            ship_country: o.ship_country,
            lines,
            user_id: o.user_id,
            owner_key: o.owner_key,
            created_at: o.created_at,
            updated_at: o.updated_at,
        })
    }

    pub fn is_new(&self) -> bool {
        self.status == OrderStatus::Pending
    }
}

/// What placing an order did.
#[derive(Debug)]
pub enum Placed {
    /// A new order.
    New(OrderView),
    /// The order this idempotency key placed before, for the same request.
    Replayed(OrderView),
}

impl Placed {
    pub fn order(&self) -> &OrderView {
        match self {
            Placed::New(o) | Placed::Replayed(o) => o,
        }
    }
}

/// A product row as a stock statement left it.
#[derive(Debug, FromQueryResult)]
struct Taken {
    id: i32,
    slug: String,
    name: String,
    price_cents: i64,
    stock: i32,
}

/// Changes a product's stock by `delta` (taking when negative, only while
/// that leaves it at 0 or more; a take also needs the product active) and
/// returns the row as it now is, or `None` when nothing was changed.
async fn change_stock(txn: &DatabaseTransaction, product: i32, delta: i64) -> Result<Option<Taken>, DbErr> {
    use crate::models::product::Column as C;
    let mut update = Query::update();
    update
        .table(product_entity::Entity)
        .value(C::Stock, Expr::col(C::Stock).add(delta))
        .value(C::UpdatedAt, Utc::now())
        .and_where(Expr::col(C::Id).eq(product))
        .returning(Query::returning().columns([C::Id, C::Slug, C::Name, C::PriceCents, C::Stock]));
    if delta < 0 {
        update.and_where(Expr::col(C::Stock).gte(-delta)).and_where(Expr::col(C::IsActive).eq(true));
    }
    let statement = txn.get_database_backend().build(&update);
    Taken::find_by_statement(statement).one(txn).await
}

/// The tags a stock change of `taken` by `delta` records.
fn stock_tags(cache: &Cache, taken: &Taken, delta: i64) -> Vec<Tag> {
    let old = i32::try_from(i64::from(taken.stock) - delta).unwrap_or(i32::MAX);
    if cache.naive_stock_invalidation() {
        // For comparison in the benchmark only: what shops that purge a
        // product and every listing on each order do.
        return vec![Tag::Lists, Tag::Categories, Tag::Product(taken.id), Tag::ProductSlug(taken.slug.clone())];
    }
    Tag::for_stock(taken.id, &taken.slug, old, taken.stock)
}

/// Places an order, or finds the one `key` placed for this same request.
#[tracing::instrument(name = "orders.place", skip_all, fields(lines = request.lines.len()))]
pub async fn place(
    desk: &OrderDesk,
    request: &OrderRequest,
    owner: &Owner,
    key: Option<&IdempotencyKey>,
) -> Result<Placed, AppError> {
    let (db, cache) = (&desk.db, &desk.cache);
    let digest = request.digest();
    let scope = owner.scope();
    // A new number on the rare collision; a replay found on the unique
    // index when another request with the key committed first.
    for _ in 0..4 {
        let txn = begin_immediate(db).await?;
        if let Some(key) = key
            && let Some(found) = by_idempotency_key(&txn, &scope, key).await?
        {
            txn.rollback().await?;
            return replay(db, found, &digest, key.any_body()).await;
        }
        let order = match take_and_record(&txn, cache, request, owner, &scope, key, &digest).await {
            Ok(order) => order,
            Err(Retry::Again) => continue,
            Err(Retry::Fail(e)) => return Err(e),
        };
        // In the order's transaction: the mail goes if and only if the
        // order stands, and once (its key is the order's number).
        mail::enqueue(&txn, &confirmation(&order, &desk.base)?).await?;
        txn.commit().await?;
        apply_invalidations(cache).await;
        desk.mailer.nudge();
        return Ok(Placed::New(order));
    }
    Err(AppError::Internal("could not allocate an order number".into()))
}

enum Retry {
    /// A unique index said no (a number in use, or the key just taken).
    Again,
    Fail(AppError),
}

impl<E: Into<AppError>> From<E> for Retry {
    fn from(e: E) -> Self {
        Retry::Fail(e.into())
    }
}

/// A unique violation is a retry; anything else fails the order.
fn unique_or(e: DbErr) -> Retry {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => Retry::Again,
        _ => Retry::Fail(e.into()),
    }
}

async fn replay(
    db: &DatabaseConnection,
    found: order::Model,
    digest: &str,
    any_body: bool,
) -> Result<Placed, AppError> {
    if !any_body && found.request_hash.as_deref() != Some(digest) {
        return Err(AppError::Unprocessable(
            "This Idempotency-Key was already used with a different request; send a new key for a new order.",
        ));
    }
    let lines = lines_of(db, found.id).await?;
    Ok(Placed::Replayed(OrderView::from_models(found, lines)?))
}

async fn by_idempotency_key(
    txn: &DatabaseTransaction,
    scope: &str,
    key: &IdempotencyKey,
) -> Result<Option<order::Model>, DbErr> {
    order::Entity::find()
        .filter(order::Column::IdempotencyScope.eq(scope))
        .filter(order::Column::IdempotencyKey.eq(key.as_str()))
        .one(txn)
        .await
}

/// Takes every line's stock, then writes the order and its lines and
/// records the cache tags, all in `txn`; on short stock nothing stays.
async fn take_and_record(
    txn: &DatabaseTransaction,
    cache: &Cache,
    request: &OrderRequest,
    owner: &Owner,
    scope: &str,
    key: Option<&IdempotencyKey>,
    digest: &str,
) -> Result<OrderView, Retry> {
    let mut taken = Vec::with_capacity(request.lines.len());
    let mut missing = Vec::new();
    for line in &request.lines {
        match change_stock(txn, line.product_id, -i64::from(line.quantity)).await? {
            Some(row) => taken.push((row, line.quantity)),
            None => missing.push(*line),
        }
    }
    if !missing.is_empty() {
        return Err(Retry::Fail(refusal(txn, &missing).await?));
    }
    let now = Utc::now();
    let total: i64 = taken.iter().map(|(row, q)| row.price_cents * i64::from(*q)).sum();
    let total = Money::from_cents(total).map_err(|_| {
        AppError::BadRequest(FieldErrors::single("lines", "The order's total is larger than the shop takes."))
    })?;
    let s: &Shipping = &request.shipping;
    let placed = order::ActiveModel {
        number: Set(OrderNumber::generate().to_string()),
        status: Set(OrderStatus::Pending.as_str().to_owned()),
        email: Set(request.email.as_str().to_owned()),
        user_id: Set(owner.user_id),
        owner_key: Set(owner.session_key.clone()),
        ship_name: Set(s.name.clone()),
        ship_line1: Set(s.line1.clone()),
        ship_line2: Set(s.line2.clone()),
        ship_city: Set(s.city.clone()),
        ship_postal_code: Set(s.postal_code.clone()),
        ship_country: Set(s.country.code().to_owned()),
        total_cents: Set(total.cents()),
        idempotency_scope: Set(key.map(|_| scope.to_owned())),
        idempotency_key: Set(key.map(|k| k.as_str().to_owned())),
        request_hash: Set(Some(digest.to_owned())),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await
    .map_err(unique_or)?;
    let mut tags = Vec::new();
    let mut lines = Vec::with_capacity(taken.len());
    for (row, quantity) in &taken {
        tags.extend(stock_tags(cache, row, -i64::from(*quantity)));
        let line = order_line::ActiveModel {
            order_id: Set(placed.id),
            product_id: Set(Some(row.id)),
            name: Set(row.name.clone()),
            unit_price_cents: Set(row.price_cents),
            quantity: Set(i32::try_from(*quantity).unwrap_or(i32::MAX)),
            line_total_cents: Set(row.price_cents * i64::from(*quantity)),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        lines.push(line);
    }
    outbox::record(txn, &tags).await?;
    Ok(OrderView::from_models(placed, lines)?)
}

/// Why lines could not be taken: products that do not exist or are not
/// for sale (400), else how many of each are left (409). Read in the
/// order's transaction, which holds the rows it has taken so far.
async fn refusal(txn: &DatabaseTransaction, missing: &[Line]) -> Result<AppError, DbErr> {
    let ids: Vec<i32> = missing.iter().map(|l| l.product_id).collect();
    let rows = product_entity::Entity::find().filter(crate::models::product::Column::Id.is_in(ids)).all(txn).await?;
    let mut unknown = FieldErrors::default();
    let mut short = FieldErrors::default();
    for line in missing {
        let field = format!("lines[{}]", line.position);
        match rows.iter().find(|p| p.id == line.product_id && p.is_active) {
            None => {
                unknown.add(&format!("{field}.product_id"), format!("Product {} is not for sale.", line.product_id))
            }
            Some(p) if p.stock <= 0 => short.add(&format!("{field}.quantity"), format!("“{}” is sold out.", p.name)),
            Some(p) => short.add(
                &format!("{field}.quantity"),
                format!("Only {} of “{}” left; you asked for {}.", p.stock, p.name, line.quantity),
            ),
        }
    }
    Ok(if unknown.is_empty() { AppError::Conflict(short) } else { AppError::BadRequest(unknown) })
}

async fn lines_of(db: &impl ConnectionTrait, order_id: i32) -> Result<Vec<order_line::Model>, DbErr> {
    order_line::Entity::find()
        .filter(order_line::Column::OrderId.eq(order_id))
        .order_by_asc(order_line::Column::ProductId)
        .order_by_asc(order_line::Column::Id)
        .all(db)
        .await
}

/// The order `key` placed for `owner`, if any: what a checkout form sent
/// again after its cart was emptied (a second tab, a resubmit) names.
#[tracing::instrument(name = "orders.placed_under", skip_all)]
pub async fn placed_under(
    db: &DatabaseConnection,
    owner: &Owner,
    key: &IdempotencyKey,
) -> Result<Option<OrderView>, AppError> {
    let found = order::Entity::find()
        .filter(order::Column::IdempotencyScope.eq(owner.scope()))
        .filter(order::Column::IdempotencyKey.eq(key.as_str()))
        .one(db)
        .await?;
    let Some(found) = found else { return Ok(None) };
    let lines = lines_of(db, found.id).await?;
    Ok(Some(OrderView::from_models(found, lines)?))
}

/// How many orders a session has placed: what tells one checkout from the
/// next (see `routes::checkout`).
pub async fn placed_by_session(db: &impl ConnectionTrait, session_key: &str) -> Result<u64, AppError> {
    Ok(order::Entity::find().filter(order::Column::OwnerKey.eq(session_key)).count(db).await?)
}

/// The order with this number, whoever may see it (the caller decides).
#[tracing::instrument(name = "orders.by_number", skip(db))]
pub async fn by_number(db: &impl ConnectionTrait, number: &OrderNumber) -> Result<Option<OrderView>, AppError> {
    let Some(found) = order::Entity::find().filter(order::Column::Number.eq(number.as_str())).one(db).await? else {
        return Ok(None);
    };
    let lines = lines_of(db, found.id).await?;
    Ok(Some(OrderView::from_models(found, lines)?))
}

/// Moves an order to `to`, restocking its lines when it is cancelled.
/// Asking for the status it already has changes nothing (a second click);
/// a move the states do not allow is a 409.
#[tracing::instrument(name = "orders.set_status", skip(db, cache))]
pub async fn set_status(
    db: &DatabaseConnection,
    cache: &Cache,
    number: &OrderNumber,
    to: OrderStatus,
) -> Result<OrderView, AppError> {
    let txn = begin_immediate(db).await?;
    // Locked: two admins cancelling at once restock once.
    let current = order::Entity::find()
        .filter(order::Column::Number.eq(number.as_str()))
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(AppError::not_found)?;
    let from = OrderStatus::parse(&current.status)
        .ok_or_else(|| AppError::Internal(format!("order {} has status {:?}", current.number, current.status)))?;
    if from == to {
        txn.rollback().await?;
        return by_number(db, number).await?.ok_or_else(AppError::not_found);
    }
    if !from.can_move_to(to) {
        let message = match from.next() {
            [] => format!("A {from} order cannot be changed."),
            next => format!(
                "A {from} order can become {}, not {to}.",
                next.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" or ")
            ),
        };
        return Err(AppError::Conflict(FieldErrors::single("status", message)));
    }
    let lines = lines_of(&txn, current.id).await?;
    if to == OrderStatus::Cancelled {
        let mut tags = Vec::new();
        // Product-id order, as orders take stock.
        for line in &lines {
            let Some(product) = line.product_id else { continue };
            if let Some(row) = change_stock(&txn, product, i64::from(line.quantity)).await? {
                tags.extend(stock_tags(cache, &row, i64::from(line.quantity)));
            }
        }
        outbox::record(&txn, &tags).await?;
    }
    let mut model: order::ActiveModel = current.into();
    model.status = Set(to.as_str().to_owned());
    model.updated_at = Set(Utc::now());
    let updated = model.update(&txn).await?;
    txn.commit().await?;
    apply_invalidations(cache).await;
    OrderView::from_models(updated, lines)
}

/// A page of orders, newest first.
#[derive(Clone, Debug)]
pub struct OrderPage {
    pub orders: Vec<OrderView>,
    pub count: u64,
    pub page: PageRequest,
    pub page_count: u32,
}

/// Which orders a list shows.
#[derive(Clone, Debug, Default)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    /// A number, or part of an email address.
    pub search: Option<String>,
    /// Only the orders this owner placed.
    pub owner: Option<Owner>,
}

/// Orders matching `filter`, newest first, a page at a time, with their lines.
#[tracing::instrument(name = "orders.list", skip(db))]
pub async fn list(db: &impl ConnectionTrait, filter: &OrderFilter, page: PageRequest) -> Result<OrderPage, AppError> {
    use sea_orm::Condition;
    let mut select = order::Entity::find();
    if let Some(status) = filter.status {
        select = select.filter(order::Column::Status.eq(status.as_str()));
    }
    // No email or number holds a control character, and PostgreSQL refuses
    // a NUL byte in text: they are dropped before the query.
    let search = filter.search.as_deref().map(|s| s.chars().filter(|c| !c.is_control()).collect::<String>());
    if let Some(search) = search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let by_number = OrderNumber::parse(search).map(|n| order::Column::Number.eq(n.as_str().to_owned()));
        let mut any = Condition::any().add(order::Column::Email.contains(search.to_lowercase()));
        if let Some(by_number) = by_number {
            any = any.add(by_number);
        }
        select = select.filter(any);
    }
    if let Some(owner) = &filter.owner {
        let mut any = Condition::any();
        if let Some(user) = owner.user_id {
            any = any.add(order::Column::UserId.eq(user));
        }
        if let Some(key) = &owner.session_key {
            any = any.add(order::Column::OwnerKey.eq(key.clone()));
        }
        if owner.user_id.is_none() && owner.session_key.is_none() {
            return Ok(OrderPage { orders: Vec::new(), count: 0, page, page_count: 1 });
        }
        select = select.filter(any);
    }
    let count = select.clone().count(db).await?;
    let page = page.resolve(count);
    let page_count = page.page_count(count);
    if page.page() > page_count {
        return Err(AppError::invalid_page());
    }
    let rows = select
        .order_by_desc(order::Column::CreatedAt)
        .order_by_desc(order::Column::Id)
        .offset(page.offset())
        .limit(u64::from(page.per_page()))
        .all(db)
        .await?;
    let ids: Vec<i32> = rows.iter().map(|o| o.id).collect();
    let mut lines = order_line::Entity::find()
        .filter(order_line::Column::OrderId.is_in(ids))
        .order_by_asc(order_line::Column::ProductId)
        .order_by_asc(order_line::Column::Id)
        .all(db)
        .await?;
    let mut orders = Vec::with_capacity(rows.len());
    for o in rows {
        let (mine, rest): (Vec<_>, Vec<_>) = lines.into_iter().partition(|l| l.order_id == o.id);
        lines = rest;
        orders.push(OrderView::from_models(o, mine)?);
    }
    Ok(OrderPage { orders, count, page, page_count })
}

/// The confirmation an order sends to the address it was placed with.
fn confirmation(order: &OrderView, base: &PublicUrl) -> Result<OutgoingMail, AppError> {
    let (subject, text) = crate::views::mail::order_confirmation(order, base.as_str())
        .map_err(|e| AppError::Internal(format!("rendering the confirmation of {}: {e}", order.number)))?;
    let key = format!("order-confirmation:{}", order.number);
    OutgoingMail::new(&key, &order.email, subject, text, None)
        .map_err(|e| AppError::Internal(format!("the confirmation of {}: {e}", order.number)))
}
