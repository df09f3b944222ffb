//! The `channel_settings` table: a channel's own values for the per-channel
//! settings (SPEC §13, §17), one nullable text column per
//! [`Setting`], named [`Setting::name`], holding the value in the
//! environment's syntax ([`SettingValue::to_text`]).
//!
//! The statements are built from [`Setting::ALL`] (fixed names, never
//! input), so a new setting needs only its column. Values are parsed back
//! with the same validator as the environment; a value this build cannot
//! read is an [`Error::BadStoredValue`], never a panic.

use super::{Error, Queryable, Store, get};
use crate::catalog::Language;
use crate::channel::settings::{ChannelOverrides, OwnSettings, Setting, SettingValue};

/// `col1, col2, …` of every setting.
fn columns() -> String {
    Setting::ALL
        .iter()
        .map(|setting| setting.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Decodes a row of [`columns`].
fn own_settings(row: &tokio_postgres::Row) -> Result<OwnSettings, Error> {
    let mut values = Vec::new();
    for setting in Setting::ALL {
        if let Some(text) = get::<Option<String>>(row, setting.name())? {
            let value = setting.parse_text(&text).map_err(|problem| Error::BadStoredValue {
                column: setting.name(),
                reason: problem.to_string(),
            })?;
            values.push(value);
        }
    }
    Ok(OwnSettings::from_values(values))
}

/// A channel's own settings (none when it has no row).
async fn select(db: &impl Queryable, channel_id: i64) -> Result<OwnSettings, Error> {
    let rows = db
        .query_rows(
            &format!("SELECT {} FROM channel_settings WHERE channel_id = $1", columns()),
            &[&channel_id],
        )
        .await?;
    rows.first().map_or_else(|| Ok(OwnSettings::default()), own_settings)
}

/// Writes the changes (values set, `None` reset to the default) and
/// returns the channel's own settings afterwards.
async fn upsert(db: &impl Queryable, channel_id: i64, overrides: &ChannelOverrides) -> Result<OwnSettings, Error> {
    let changes: Vec<(Setting, Option<String>)> = overrides
        .changes()
        .map(|(setting, value)| (setting, value.map(SettingValue::to_text)))
        .collect();
    if changes.is_empty() {
        return select(db, channel_id).await;
    }
    let names: Vec<&str> = changes.iter().map(|(setting, _)| setting.name()).collect();
    let placeholders: Vec<String> = (2..changes.len().saturating_add(2)).map(|n| format!("${n}")).collect();
    let updates: Vec<String> = names.iter().map(|name| format!("{name} = EXCLUDED.{name}")).collect();
    let sql = format!(
        "INSERT INTO channel_settings (channel_id, {names}) VALUES ($1, {placeholders})
         ON CONFLICT (channel_id) DO UPDATE SET {updates}, updated_at = now()
         RETURNING {columns}",
        names = names.join(", "),
        placeholders = placeholders.join(", "),
        updates = updates.join(", "),
        columns = columns(),
    );
    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&channel_id];
    for (_, text) in &changes {
        params.push(text);
    }
    let rows = db.query_rows(&sql, &params).await?;
    let row = rows.first().ok_or(Error::NoRow {
        statement: "INSERT INTO channel_settings … RETURNING",
    })?;
    own_settings(row)
}

impl Store {
    /// The settings channel `channel_id` set for itself.
    ///
    /// # Errors
    ///
    /// Database errors; [`Error::BadStoredValue`] for a value this build
    /// cannot read.
    pub async fn channel_settings(&self, channel_id: i64) -> Result<OwnSettings, Error> {
        let client = self.pool.get().await?;
        select(&client, channel_id).await
    }

    /// The settings every channel set for itself (channels with no row
    /// are left out): to learn which features some channel uses.
    ///
    /// # Errors
    ///
    /// Database errors; [`Error::BadStoredValue`] for a value this build
    /// cannot read.
    pub async fn all_channel_settings(&self) -> Result<Vec<OwnSettings>, Error> {
        let client = self.pool.get().await?;
        let rows = client
            .query_rows(&format!("SELECT {} FROM channel_settings", columns()), &[])
            .await?;
        rows.iter().map(own_settings).collect()
    }

    /// Applies a `PUT` of the channel's settings; returns its own settings
    /// afterwards.
    ///
    /// # Errors
    ///
    /// Database errors (a channel that does not exist is an integrity
    /// error).
    pub async fn update_channel_settings(
        &self,
        channel_id: i64,
        overrides: &ChannelOverrides,
    ) -> Result<OwnSettings, Error> {
        let client = self.pool.get().await?;
        upsert(&client, channel_id, overrides).await
    }

    /// The language of every channel that chose its own (`LANGUAGE`), by
    /// login. A stored value this build cannot read is left out with a
    /// warning: that channel speaks the default, and the others are not
    /// held up by it.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn channel_languages(&self) -> Result<Vec<(String, Language)>, Error> {
        let client = self.pool.get().await?;
        let rows = client
            .query_rows(
                "SELECT c.login, s.language FROM channel_settings s JOIN channels c ON c.id = s.channel_id
                 WHERE s.language IS NOT NULL",
                &[],
            )
            .await?;
        let mut languages = Vec::with_capacity(rows.len());
        for row in &rows {
            let login: String = get(row, "login")?;
            let text: String = get(row, "language")?;
            match Setting::Language.parse_text(&text) {
                Ok(SettingValue::Language(language)) => languages.push((login, language)),
                Ok(_) | Err(_) => tracing::warn!(
                    channel = %login,
                    value = %text,
                    "channel_settings.language cannot be read; the channel speaks LANGUAGE"
                ),
            }
        }
        Ok(languages)
    }
}
