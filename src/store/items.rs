//! The `items` table: the prize lists and their remaining stock, which
//! lives only here. `channel_id` null is the default list, synchronised
//! from the items file at start; a channel's own list (SPEC §10, §13) is
//! written from the control room or `kinoyubot items import` by the same
//! rules, and replaces the default list for that channel while it has one.
//!
//! Synchronisation rules, for either list (also in the README):
//! - a new item gets the file's stock;
//! - an existing item keeps its remaining stock, unless the file's `stock`
//!   differs from the value synchronised last time (the streamer restocked
//!   or changed it): then the remaining stock becomes the new file value;
//! - removing `stock` makes the item unlimited;
//! - probabilities and order always follow the file;
//! - an item removed from the list is deactivated (never drawn again) but
//!   kept, because past raffles name it.

use super::{Error, Queryable, Store, get};
use crate::raffle::items::{ItemTable, ListSource, ListedItem, PrizeList};

impl Store {
    /// Writes the items file into the default list (`channel_id` null), as
    /// described in the module docs, in one transaction, so other
    /// instances see the whole change or none. Channels' own lists are not
    /// touched.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn sync_items(&self, table: &ItemTable) -> Result<(), Error> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        sync(&transaction, None, table).await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Sets a channel's own prize list (`Some`), by the same rules as the
    /// items file's synchronisation, or sends it back to the default list
    /// (`None`: its items are deactivated, kept for history). One
    /// transaction; returns the list the channel draws from afterwards.
    ///
    /// # Errors
    ///
    /// Database errors ([`Error::Vanished`] if the channel is gone).
    pub(crate) async fn set_channel_items(
        &self,
        channel_id: i64,
        table: Option<&ItemTable>,
    ) -> Result<PrizeList, Error> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        // Serialises concurrent writers of one channel's list, and fails
        // cleanly when the channel is gone.
        let locked = transaction
            .query_rows("SELECT id FROM channels WHERE id = $1 FOR UPDATE", &[&channel_id])
            .await?;
        if locked.is_empty() {
            return Err(Error::Vanished {
                what: format!("channel {channel_id}"),
            });
        }
        match table {
            Some(table) => sync(&transaction, Some(channel_id), table).await?,
            None => {
                transaction
                    .query_rows(
                        "UPDATE items SET active = false, updated_at = now() WHERE channel_id = $1 AND active",
                        &[&channel_id],
                    )
                    .await?;
            }
        }
        let list = for_draw(&transaction, channel_id).await?;
        transaction.commit().await?;
        Ok(list)
    }

    /// The prize list a channel draws from now (its own or the default),
    /// with remaining stock.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn prize_list(&self, channel_id: i64) -> Result<PrizeList, Error> {
        for_draw(&self.pool.get().await?, channel_id).await
    }
}

/// Writes `table` into one list: the default (`None`) or a channel's.
async fn sync(db: &impl Queryable, channel_id: Option<i64>, table: &ItemTable) -> Result<(), Error> {
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
         WHERE active AND channel_id IS NOT DISTINCT FROM $2 AND NOT (name = ANY($1))",
        &[&names, &channel_id],
    )
    .await?;
    // Each list has its own partial unique index to conflict on.
    let conflict = match channel_id {
        None => "(name) WHERE channel_id IS NULL",
        Some(_) => "(channel_id, name) WHERE channel_id IS NOT NULL",
    };
    let statement = format!(
        "INSERT INTO items (channel_id, name, probability, stock, configured_stock, position, active)
         SELECT $5::int8, name, probability, stock, stock, position, true
         FROM UNNEST($1::text[], $2::float8[], $3::int4[], $4::int4[]) AS f(name, probability, stock, position)
         ON CONFLICT {conflict} DO UPDATE SET
             probability = EXCLUDED.probability,
             position = EXCLUDED.position,
             active = true,
             stock = CASE
                 WHEN items.configured_stock IS NOT DISTINCT FROM EXCLUDED.configured_stock THEN items.stock
                 ELSE EXCLUDED.stock
             END,
             configured_stock = EXCLUDED.configured_stock,
             updated_at = now()"
    );
    db.query_rows(&statement, &[&names, &probabilities, &stocks, &positions, &channel_id])
        .await?;
    Ok(())
}

/// The list a channel draws from: its own active items when it has any,
/// else the default list's, in order with their remaining stock. Not
/// locked: rounds read it at once, and the unit won is taken by
/// [`take_one`], which refuses when the stock ran out (or the item was
/// removed) meanwhile.
///
/// # Errors
///
/// Database errors.
pub(super) async fn for_draw(db: &impl Queryable, channel_id: i64) -> Result<PrizeList, Error> {
    let rows = db
        .query_rows(
            "WITH own AS (SELECT EXISTS (SELECT 1 FROM items WHERE channel_id = $1 AND active) AS own)
             SELECT i.id, i.name, i.probability, i.stock, i.configured_stock, own.own
             FROM items i, own
             WHERE i.active AND CASE WHEN own.own THEN i.channel_id = $1 ELSE i.channel_id IS NULL END
             ORDER BY i.position, i.id",
            &[&channel_id],
        )
        .await?;
    // The column's CHECK keeps stock >= 0.
    let count = |value: Option<i32>| value.map(|s| u32::try_from(s).unwrap_or(0));
    let mut own = false;
    let items = rows
        .iter()
        .map(|row| {
            own = get(row, "own")?;
            Ok(ListedItem {
                id: get(row, "id")?,
                name: get(row, "name")?,
                probability: get(row, "probability")?,
                stock: count(get(row, "stock")?),
                configured_stock: count(get(row, "configured_stock")?),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(PrizeList {
        source: if own { ListSource::Channel } else { ListSource::Default },
        items,
    })
}

/// Takes one unit of an item's stock (no-op for unlimited items).
///
/// # Errors
///
/// Database errors, or [`Error::OutOfStock`] when the stock ran out since
/// [`for_draw`] read it (a concurrent round took the last unit), or the
/// item left its list (the streamer changed it): the round is then drawn
/// again.
pub(super) async fn take_one(db: &impl Queryable, item: &ListedItem) -> Result<(), Error> {
    let rows = db
        .query_rows(
            "UPDATE items SET stock = stock - 1, updated_at = now()
             WHERE id = $1 AND active AND (stock IS NULL OR stock > 0)
             RETURNING stock",
            &[&item.id],
        )
        .await?;
    if rows.is_empty() {
        return Err(Error::OutOfStock {
            item: item.name.clone(),
        });
    }
    Ok(())
}

/// Gives one unit back to the item row a win took it from (nothing for
/// unlimited items, or when the row is gone).
///
/// # Errors
///
/// Database errors.
pub(super) async fn return_one(db: &impl Queryable, item_id: i64) -> Result<(), Error> {
    db.query_rows(
        "UPDATE items SET stock = stock + 1, updated_at = now() WHERE id = $1 AND stock IS NOT NULL",
        &[&item_id],
    )
    .await?;
    Ok(())
}
