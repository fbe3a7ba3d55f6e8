//! The background worker: claims loads from the queue in the database, runs them,
//! renews its lease while it works, and sends the mail the load produced.
use crate::mail::{compose, Mailer};
use muster_store::{events, jobs, load, notifications, tenants, uploads, DatabaseConnection};
use std::time::{Duration, Instant};

/// How often the worker looks for mail whose sender did not finish.
const MAIL_CHECK_EVERY: Duration = Duration::from_secs(60);
/// Sent messages are recorded this many at a time, or this often.
const RECORD_SENT_AT: usize = 100;
const RECORD_SENT_EVERY: Duration = Duration::from_secs(2);
/// A load's progress is told to the pages at most this often, however fast
/// its batches commit: each report is an event row, written to every stream
/// of the tenant (with 500 admins watching, those writes were most of what
/// the streams cost a load); twice a second still moves the bar smoothly.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

pub struct Worker {
    pub db: DatabaseConnection,
    pub id: String,
    pub mailer: Mailer,
    pub base_url: String,
    /// Claim this job only (the command line's own import), not the queue's next.
    pub only_job: Option<i64>,
}

impl Worker {
    /// Runs queued loads until there are none; returns how many it ran.
    pub async fn run_pending(&self) -> anyhow::Result<usize> {
        let mut ran = 0;
        loop {
            let claimed = match self.only_job {
                Some(job_id) => jobs::claim_job(&self.db, &self.id, job_id).await?,
                None => jobs::claim(&self.db, &self.id).await?,
            };
            let Some(job) = claimed else { break };
            self.run_job(job).await?;
            ran += 1;
        }
        Ok(ran)
    }

    /// Sends a batch's mail, message by message, each owed until it went out
    /// or cannot: the sent ones are recorded a group at a time (one
    /// transaction per hundred, not per message, beside a running load), and
    /// the claim on those still to send is kept while it works.
    fn deliver(&self, mailing: load::Mailing) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (db, mailer, base_url) = (self.db.clone(), self.mailer.clone(), self.base_url.clone());
        async move {
            let owed: Vec<i64> = mailing.messages.iter().map(|m| m.owed).collect();
            // Still ours? A mailing that waited its turn may have lost its
            // claim to another worker, which then sends it instead.
            let mut held: std::collections::HashSet<i64> = match load::extend_mail_claim(&db, &mailing, &owed).await {
                Ok(held) => held.into_iter().collect(),
                Err(err) => {
                    tracing::error!(error = %err, "owed mail not claimed; it is sent later");
                    return;
                }
            };
            let mut sent = Vec::new();
            let mut recorded = Instant::now();
            let record = |sent: Vec<i64>| {
                let (db, mailing) = (db.clone(), &mailing);
                async move {
                    if let Err(err) = load::mail_sent(&db, mailing, &sent).await {
                        tracing::error!(error = %err, "mail sent but still marked as owed; it may go out twice");
                    }
                }
            };
            for (at, message) in mailing.messages.iter().enumerate() {
                if recorded.elapsed() >= RECORD_SENT_EVERY {
                    record(std::mem::take(&mut sent)).await;
                    match load::extend_mail_claim(&db, &mailing, &owed[at..]).await {
                        Ok(still) => held = still.into_iter().collect(),
                        Err(err) => tracing::error!(error = %err, "the claim on owed mail was not extended"),
                    }
                    recorded = Instant::now();
                }
                if !held.contains(&message.owed) {
                    continue;
                }
                let delivered = match compose(&message.outgoing, &base_url) {
                    Ok(m) => mailer.deliver(m).await,
                    // An address no message can carry will not get one later either.
                    Err(err) => Err(load::Delivery::Refused(err.to_string())),
                };
                match delivered {
                    Ok(()) => {
                        sent.push(message.owed);
                        if sent.len() >= RECORD_SENT_AT {
                            record(std::mem::take(&mut sent)).await;
                        }
                    }
                    Err(why) => {
                        tracing::warn!(reason = ?why, "mail not sent");
                        if let Err(err) = load::mail_failed(&db, &mailing, message.owed, &why).await {
                            tracing::error!(error = %err, "a failed message was not recorded; it is sent again later");
                        }
                    }
                }
            }
            record(sent).await;
        }
    }

    /// Sends mail whose sender did not finish, or whose back-off is over,
    /// within `ahead` from now (see `load::claim_unsent_mail`; zero in
    /// service); returns how many messages it took.
    pub async fn resend_unsent(&self, ahead: Duration) -> anyhow::Result<usize> {
        let ahead = chrono::Duration::from_std(ahead).unwrap_or(chrono::Duration::days(36_500));
        // A few at a time: each claim lasts `load::MAIL_CLAIM`, and those sent last
        // must go out before theirs lapse (another worker would take them).
        let mailings = load::claim_unsent_mail(&self.db, ahead, 20).await?;
        let taken = mailings.iter().map(|m| m.messages.len()).sum();
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
                if let Err(err) = self.resend_unsent(Duration::ZERO).await {
                    tracing::error!(error = %err, "owed mail not sent; retrying");
                }
                // Ended sessions and old sign-in failures go on the same beat.
                if let Err(err) = muster_store::sessions::purge_expired(&self.db).await {
                    tracing::error!(error = %err, "ended sessions not purged; retrying");
                }
                if let Err(err) = muster_store::throttle::purge(&self.db).await {
                    tracing::error!(error = %err, "old sign-in failures not purged; retrying");
                }
                if let Err(err) = events::purge(&self.db).await {
                    tracing::error!(error = %err, "old events not purged; retrying");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Records the latest progress of a load as an event, at most every
    /// [`PROGRESS_EVERY`], until the sender is dropped; a report that fails
    /// is logged and the load goes on.
    fn report_progress(
        &self,
        tenant_id: i64,
        upload_id: i64,
    ) -> (tokio::sync::watch::Sender<Option<load::Progress>>, tokio::task::JoinHandle<()>) {
        let (sender, mut latest) = tokio::sync::watch::channel::<Option<load::Progress>>(None);
        let db = self.db.clone();
        let reporter = tokio::spawn(async move {
            while latest.changed().await.is_ok() {
                let Some(progress) = latest.borrow_and_update().clone() else { continue };
                events::note_upload_changed(&db, tenant_id, upload_id, events::kind::PROGRESS, Some(progress.counts))
                    .await;
                tokio::time::sleep(PROGRESS_EVERY).await;
            }
        });
        (sender, reporter)
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
        let file = uploads::ResultsFile::read(&self.db, &upload).await?;
        let attached = tokio::task::spawn_blocking(move || {
            file.write_to(crate::mail::Capped::new(crate::mail::RESULTS_ATTACHED_UP_TO)).ok().map(|c| c.bytes)
        })
        .await?;
        let page = format!("{}/uploads/{upload_id}", self.base_url);
        let summary = upload.summary.as_deref().unwrap_or("");
        let sent = match crate::mail::results(&to, &upload.file_name, summary, attached, &page) {
            Ok(message) => self.mailer.send(message).await,
            Err(err) => Err(err),
        };
        // The admin is told either way: the results file is on the upload's page too.
        let (kind, said) = match &sent {
            Ok(()) => {
                (notifications::kind::RESULTS_SENT, format!("The results of upload {upload_id} were emailed to {to}."))
            }
            Err(err) => (
                notifications::kind::RESULTS_NOT_SENT,
                format!(
                    "The results of upload {upload_id} were not emailed to {to} ({err}); download them from its page."
                ),
            ),
        };
        notifications::tell(&self.db, &upload, kind, &said).await?;
        events::note_upload_changed(&self.db, job.tenant_id, upload_id, events::kind::TOLD, None).await;
        sent
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
        // failed, or this process dies first) stays owed, and `resend_unsent`
        // sends it later with new credentials.
        let mut sending = Vec::new();
        let send = |mailing: load::Mailing| sending.push(tokio::spawn(self.deliver(mailing)));
        let claim = load::Claim::of(&job, &self.id);
        let (progressed, reporter) = self.report_progress(job.tenant_id, upload_id);
        let result = load::run(
            &self.db,
            upload_id,
            Some(&claim),
            |p| {
                tracing::debug!(upload = upload_id, done = p.done, total = p.total, "load progress");
                progressed.send_replace(Some(p.clone()));
                true
            },
            send,
        )
        .await;
        drop(progressed);
        let _ = reporter.await;
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
