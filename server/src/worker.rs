//! The background worker: claims loads from the queue in the database, runs them,
//! renews its lease while it works, and sends the mail the load produced.
use crate::mail::{compose, Mailer};
use muster_store::{jobs, load, tenants, uploads, DatabaseConnection};
use std::time::Duration;

/// Mail owed this long is taken as lost by its sender, and sent again.
const UNSENT_AFTER: Duration = Duration::from_secs(5 * 60);
/// How often the worker looks for such mail.
const MAIL_CHECK_EVERY: Duration = Duration::from_secs(60);

pub struct Worker {
    pub db: DatabaseConnection,
    pub id: String,
    pub mailer: Mailer,
    pub base_url: String,
}

impl Worker {
    /// Runs queued loads until there are none; returns how many it ran.
    pub async fn run_pending(&self) -> anyhow::Result<usize> {
        let mut ran = 0;
        while let Some(job) = jobs::claim(&self.db, &self.id).await? {
            self.run_job(job).await?;
            ran += 1;
        }
        Ok(ran)
    }

    /// Sends a batch's mail; once every message went out, it is no longer owed.
    fn deliver(&self, mailing: load::Mailing) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (db, mailer, base_url) = (self.db.clone(), self.mailer.clone(), self.base_url.clone());
        async move {
            let mut all_sent = true;
            for message in &mailing.messages {
                let sent = match compose(message, &base_url) {
                    Ok(m) => mailer.send(m).await,
                    Err(err) => Err(err),
                };
                if let Err(err) = sent {
                    tracing::error!(error = %err, "mail not sent; it will be sent again with new credentials");
                    all_sent = false;
                }
            }
            if all_sent {
                if let Err(err) = load::mail_sent(&db, &mailing).await {
                    tracing::error!(error = %err, "sent mail still marked as owed");
                }
            }
        }
    }

    /// Sends mail that loads owe for longer than `older_than` (see
    /// `load::claim_unsent_mail`); returns how many batches of it were taken.
    pub async fn resend_unsent(&self, older_than: Duration) -> anyhow::Result<usize> {
        let mailings = load::claim_unsent_mail(&self.db, older_than, 20).await?;
        let taken = mailings.len();
        for mailing in mailings {
            self.deliver(mailing).await;
        }
        Ok(taken)
    }

    /// Polls the queue until `shutdown` resolves.
    pub async fn run_forever(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut mail_checked: Option<std::time::Instant> = None;
        loop {
            if let Err(err) = self.run_pending().await {
                tracing::error!(error = %err, "the worker failed; retrying");
            }
            // Owed for a while: a live sender of it would be done by now. Looked
            // for once a minute, not at every poll of the queue.
            if mail_checked.is_none_or(|at| at.elapsed() >= MAIL_CHECK_EVERY) {
                mail_checked = Some(std::time::Instant::now());
                if let Err(err) = self.resend_unsent(UNSENT_AFTER).await {
                    tracing::error!(error = %err, "owed mail not sent; retrying");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// The results email, when the upload asked for one.
    async fn email_results(&self, job: &muster_store::entity::job::Model, upload_id: i64) -> anyhow::Result<()> {
        let Some(upload) = uploads::find(&self.db, job.tenant_id, upload_id).await? else { return Ok(()) };
        let options = uploads::options_of(&upload);
        if !options.load.results_email {
            return Ok(());
        }
        let to = match (options.load.results_to, upload.uploaded_by) {
            (Some(address), _) => address,
            (None, Some(admin)) => match tenants::email_of(&self.db, job.tenant_id, admin).await? {
                Some(address) => address,
                None => return Ok(()),
            },
            (None, None) => return Ok(()),
        };
        let csv = uploads::results_csv(&self.db, job.tenant_id, upload_id).await?.unwrap_or_default();
        let message = crate::mail::results(&to, &upload.file_name, upload.summary.as_deref().unwrap_or(""), csv)?;
        self.mailer.send(message).await
    }

    async fn run_job(&self, job: muster_store::entity::job::Model) -> anyhow::Result<()> {
        let Some(upload_id) = job.upload_id else {
            jobs::finish(&self.db, &job, Some("a load job without an upload")).await?;
            return Ok(());
        };
        if job.attempts > jobs::MAX_ATTEMPTS {
            let why = format!(
                "gave up after {} attempts; the last error was: {}",
                jobs::MAX_ATTEMPTS,
                job.last_error.as_deref().unwrap_or("none recorded")
            );
            tracing::error!(job = job.id, upload = upload_id, %why, "load given up");
            jobs::give_up(&self.db, &job, &why).await?;
            return Ok(());
        }
        tracing::info!(job = job.id, upload = upload_id, attempt = job.attempts, "load started");
        // Mail goes out as each batch commits. What does not (the server
        // refused it, or this process dies first) stays owed, and
        // `resend_unsent` sends it later with new credentials.
        let mut sending = Vec::new();
        let send = |mailing: load::Mailing| sending.push(tokio::spawn(self.deliver(mailing)));
        let claim = load::Claim::of(&job, &self.id);
        let result = load::run(
            &self.db,
            upload_id,
            Some(&claim),
            |done, total| {
                tracing::debug!(upload = upload_id, done, total, "load progress");
                true
            },
            send,
        )
        .await;
        for handle in sending {
            let _ = handle.await;
        }
        match result {
            Ok(report) if report.finished => {
                // Only the worker that still holds the job finishes it and sends
                // the results: one email, even after a takeover.
                if jobs::finish(&self.db, &job, None).await? {
                    tracing::info!(upload = upload_id, summary = %report.counts.summary(), "load done");
                    if let Err(err) = self.email_results(&job, upload_id).await {
                        tracing::error!(upload = upload_id, error = %err, "the results email was not sent");
                    }
                }
            }
            // The lease was lost: another worker has the job now.
            Ok(_) => tracing::warn!(upload = upload_id, "load handed over to another worker"),
            // The job stays running; its lease runs out and a worker resumes it.
            Err(err) => {
                tracing::error!(upload = upload_id, error = %err, "load interrupted; it will resume");
                if let Err(note) = jobs::note_error(&self.db, &job, &err.to_string()).await {
                    tracing::error!(error = %note, "the load's error was not recorded");
                }
            }
        }
        Ok(())
    }
}
