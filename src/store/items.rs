//! The `items` table: the prize list, synchronised from the items file at
//! start, and the remaining stock, which lives only here.
//!
//! Synchronisation rules (also in the README):
//! - a new item gets the file's stock;
//! - an existing item keeps its remaining stock, unless the file's `stock`
//!   differs from the value synchronised last time (the streamer restocked
//!   or changed it): then the remaining stock becomes the new file value;
//! - removing `stock` makes the item unlimited;
//! - probabilities and order always follow the file;
//! - an item removed from the file is deactivated (never drawn again) but
//!   kept, because past raffles name it.

use super::{Error, Queryable, Store, get};
use crate::raffle::draw::DrawItem;
use crate::raffle::items::ItemTable;

impl Store {
    /// Writes the items file into the `items` table, as described in the
    /// module docs, in one transaction, so other instances see the whole
    /// change or none.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn sync_items(&self, table: &ItemTable) -> Result<(), Error> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        sync(&transaction, table).await?;
        transaction.commit().await?;
        Ok(())
    }
}

async fn sync(db: &impl Queryable, table: &ItemTable) -> Result<(), Error> {
    let mut names = Vec::new();
    let mut probabilities = Vec::new();
    let mut stocks: Vec<Option<i32>> = Vec::new();
    let mut positions = Vec::new();
    for (position, item) in table.items().iter().enumerate() {
        names.push(item.name.clone());
        probabilities.push(item.probability.get());
        stocks.push(item.stock.map(|s| i32::try_from(s).unwrap_or(i32::MAX)));
        positions.push(i32::try_from(position).unwrap_or(i32::MAX));
    }
    db.query_rows(
        "UPDATE items SET active = false, updated_at = now()
         WHERE active AND NOT (name = ANY($1))",
        &[&names],
    )
    .await?;
    db.query_rows(
        "INSERT INTO items (name, probability, stock, configured_stock, position, active)
         SELECT name, probability, stock, stock, position, true
         FROM UNNEST($1::text[], $2::float8[], $3::int4[], $4::int4[]) AS f(name, probability, stock, position)
         ON CONFLICT (name) DO UPDATE SET
             probability = EXCLUDED.probability,
             position = EXCLUDED.position,
             active = true,
             stock = CASE
                 WHEN items.configured_stock IS NOT DISTINCT FROM EXCLUDED.configured_stock THEN items.stock
                 ELSE EXCLUDED.stock
             END,
             configured_stock = EXCLUDED.configured_stock,
             updated_at = now()",
        &[&names, &probabilities, &stocks, &positions],
    )
    .await?;
    Ok(())
}

/// The active items in file order with their remaining stock, not locked:
/// rounds of every channel read the same list at once, and the unit won is
/// taken by [`take_one`], which refuses when the stock ran out meanwhile.
///
/// # Errors
///
/// Database errors.
pub(super) async fn for_draw(db: &impl Queryable) -> Result<Vec<DrawItem>, Error> {
    let rows = db
        .query_rows(
            "SELECT name, probability, stock FROM items WHERE active ORDER BY position, id",
            &[],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(DrawItem {
                name: get(row, "name")?,
                probability: get(row, "probability")?,
                // The column's CHECK keeps stock >= 0.
                remaining_stock: get::<Option<i32>>(row, "stock")?.map(|s| u32::try_from(s).unwrap_or(0)),
            })
        })
        .collect()
}

/// Takes one unit of an item's stock (no-op for unlimited items).
///
/// # Errors
///
/// Database errors, or [`Error::OutOfStock`] when the stock ran out since
/// [`for_draw`] read it (a concurrent round took the last unit): the
/// round is then drawn again.
pub(super) async fn take_one(db: &impl Queryable, name: &str) -> Result<(), Error> {
    let rows = db
        .query_rows(
            "UPDATE items SET stock = stock - 1, updated_at = now()
             WHERE name = $1 AND (stock IS NULL OR stock > 0)
             RETURNING stock",
            &[&name],
        )
        .await?;
    if rows.is_empty() {
        return Err(Error::OutOfStock { item: name.to_owned() });
    }
    Ok(())
}
