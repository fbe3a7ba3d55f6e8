//! The mail a load owes: invitations and passwords sent once their batch committed, renewed, retried a bounded number of times, and given up with the row saying so.
use super::*;

#[tokio::test]
async fn an_upload_that_notifies_no_new_users_mails_none_whatever_its_rows_say() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let file = b"userId,email,firstName,notifyIfNewUser\ninv1,inv1@x.io,I,true\ninv2,inv2@x.io,J,\n";
        let mut options = UploadOptions::default();
        options.load.notify_new_users = false;
        let (upload, mail) = load_with(&db, &w.tenant, options.clone(), file).await;
        assert!(mail.is_empty(), "{backend:?}: {mail:?}");
        let held = "Added; invitation created (not sent: this upload notifies no new users)";
        assert_eq!(
            outcomes(&db, &w.tenant, upload.id).await,
            [("added".into(), held.into()), ("added".into(), held.into())]
        );
        // The invitations exist: the admin may send them later.
        assert_eq!(invitation::Entity::find().count(&db).await.unwrap(), 2, "{backend:?}");

        options.load.credentials = load::Credentials::GeneratePassword { email: true };
        let file = b"userId,email,firstName,notifyIfNewUser\ngen1,gen1@x.io,G,true\n";
        let (upload, mail) = load_with(&db, &w.tenant, options, file).await;
        assert!(mail.is_empty(), "{backend:?}: {mail:?}");
        assert_eq!(
            outcomes(&db, &w.tenant, upload.id).await,
            [("added".into(), "Added; password set (not sent: this upload notifies no new users)".into())]
        );
        assert!(find(&db, &w.tenant, "gen1").await.unwrap().password_hash.is_some(), "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn owed_mail_is_renewed_only_for_the_recipients_not_sent_to() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let file = b"userId,email,firstName\nann,ann@x.io,Ann\nbob,bob@x.io,Bob\ncat,cat@x.io,Cat\n";
        let (upload_id, lost) = load_losing_mail(&db, &w.tenant, UploadOptions::default(), file).await;
        let messages: Vec<&load::Message> = lost.iter().flat_map(|m| &m.messages).collect();
        assert_eq!(messages.len(), 3, "{backend:?}");
        // Queued, not sent, until the sender says so.
        let results = outcomes(&db, &w.tenant, upload_id).await;
        assert!(results.iter().all(|(_, r)| r == "Added; invitation queued"), "{backend:?}: {results:?}");
        // The batch's sender holds its claim from the start: nobody else sends it.
        assert!(load::claim_unsent_mail(&db, chrono::Duration::zero(), 20).await.unwrap().is_empty(), "{backend:?}");
        // ann's went out; then the sender died.
        load::mail_sent(&db, &lost[0], &[messages[0].owed]).await.unwrap();

        let again = claim_everything(&db).await;
        let renewed: Vec<(String, String)> = again.iter().map(|m| token_of(&m.messages[0])).collect();
        assert_eq!(renewed.iter().map(|(u, _)| u.as_str()).collect::<Vec<_>>(), ["bob", "cat"], "{backend:?}");
        // ann's link still works: nothing was renewed for her.
        assert!(invitations::open(&db, &token_of(messages[0]).1).await.is_ok(), "{backend:?}");
        // bob's lost link no longer works; the new one does, once.
        assert!(invitations::open(&db, &token_of(messages[1]).1).await.is_err(), "{backend:?}");
        invitations::accept(&db, &renewed[0].1, "a good pass 12").await.unwrap();
        assert!(invitations::accept(&db, &renewed[0].1, "a good pass 12").await.is_err());
        // Claimed: another worker does not send it too.
        assert!(claim_everything(&db).await.is_empty(), "{backend:?}");
        for m in &again {
            load::mail_sent(&db, m, &[m.messages[0].owed]).await.unwrap();
        }
        assert_eq!(mail_owed::Entity::find().count(&db).await.unwrap(), 0, "{backend:?}");
        let results = outcomes(&db, &w.tenant, upload_id).await;
        assert!(results.iter().all(|(_, r)| r == "Added; invitation sent"), "{backend:?}: {results:?}");
    })
    .await;
}

#[tokio::test]
async fn a_renewal_leaves_a_user_with_two_unused_invitations_one_new_link() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let file = b"userId,email,firstName\nann,ann@x.io,Ann\n";
        let (_, lost) = load_losing_mail(&db, &w.tenant, UploadOptions::default(), file).await;
        let first = token_of(&lost[0].messages[0]).1;
        // A second link for ann, unused too: one key each, so a renewal that
        // gave both the same key would break on the unique index.
        let ann = find(&db, &w.tenant, "ann").await.unwrap();
        let second = muster_store::tokens::generate_link();
        let key = muster_store::tokens::link_key(&second);
        invitations::create(&db, w.tenant.id, ann.id, &key, 7).await.unwrap();

        let again = claim_everything(&db).await;
        assert_eq!(again.len(), 1, "{backend:?}");
        let (user, renewed) = token_of(&again[0].messages[0]);
        assert_eq!(user, "ann", "{backend:?}");
        assert!(invitations::open(&db, &first).await.is_err(), "{backend:?}: the lost link no longer works");
        assert!(invitations::open(&db, &second).await.is_err(), "{backend:?}: nor the other unused one");
        let of_ann = invitation::Entity::find().filter(invitation::Column::UserId.eq(ann.id)).count(&db).await.unwrap();
        assert_eq!(of_ann, 1, "{backend:?}: one link left");
        invitations::accept(&db, &renewed, "a good pass 12").await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_sender_whose_claim_was_taken_over_records_nothing_and_sends_nothing() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let file = b"userId,email,firstName\nann,ann@x.io,Ann\n";
        let (upload_id, lost) = load_losing_mail(&db, &w.tenant, UploadOptions::default(), file).await;
        let first = &lost[0];
        let owed = [first.messages[0].owed];
        // The first sender stalled past its claim; another worker took the message.
        let taken = claim_everything(&db).await;
        assert_eq!(taken.len(), 1, "{backend:?}");
        // The first one wakes: it holds nothing, so it sends nothing and
        // records nothing over the new claim.
        assert!(load::extend_mail_claim(&db, first, &owed).await.unwrap().is_empty(), "{backend:?}");
        load::mail_sent(&db, first, &owed).await.unwrap();
        load::mail_failed(&db, first, owed[0], &load::Delivery::Refused("550 no".into())).await.unwrap();
        assert_eq!(mail_owed::Entity::find().count(&db).await.unwrap(), 1, "{backend:?}: still owed");
        assert_eq!(outcomes(&db, &w.tenant, upload_id).await[0].1, "Added; invitation queued", "{backend:?}");
        // The holder of the claim records it.
        assert_eq!(load::extend_mail_claim(&db, &taken[0], &owed).await.unwrap(), owed, "{backend:?}");
        load::mail_sent(&db, &taken[0], &owed).await.unwrap();
        assert_eq!(outcomes(&db, &w.tenant, upload_id).await[0].1, "Added; invitation sent", "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn mail_whose_sender_dies_every_time_is_given_up_after_the_attempts() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let file = b"userId,email,firstName\nann,ann@x.io,Ann\n";
        let (upload_id, _lost) = load_losing_mail(&db, &w.tenant, UploadOptions::default(), file).await;
        // Each claimant dies before it says anything; each later worker looks
        // once the claim before ran out (a day on, then two…).
        let mut claims = 0;
        while !load::claim_unsent_mail(&db, chrono::Duration::days(claims as i64 + 1), 10).await.unwrap().is_empty() {
            claims += 1;
            assert!(claims < load::MAIL_ATTEMPTS, "{backend:?}: claimed for ever");
        }
        assert_eq!(claims, load::MAIL_ATTEMPTS - 1, "{backend:?}: the batch's attempt was the first");
        assert_eq!(mail_owed::Entity::find().count(&db).await.unwrap(), 0, "{backend:?}");
        assert_eq!(
            outcomes(&db, &w.tenant, upload_id).await[0].1,
            format!(
                "Added; invitation not delivered: its sender stopped each time (after {} attempts)",
                load::MAIL_ATTEMPTS
            ),
            "{backend:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn mail_owed_to_a_user_deleted_since_ends_saying_so() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let file = b"userId,email,firstName\nann,ann@x.io,Ann\n";
        let (upload_id, _lost) = load_losing_mail(&db, &w.tenant, UploadOptions::default(), file).await;
        let ann = find(&db, &w.tenant, "ann").await.unwrap();
        user::Entity::delete_by_id(ann.id).exec(&db).await.unwrap();
        assert!(claim_everything(&db).await.is_empty(), "{backend:?}: nothing to send");
        assert_eq!(mail_owed::Entity::find().count(&db).await.unwrap(), 0, "{backend:?}");
        assert_eq!(
            outcomes(&db, &w.tenant, upload_id).await[0].1,
            "Added; invitation not sent: the user was deleted",
            "{backend:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_resent_invitation_expires_a_full_term_after_it_is_sent() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let (_, _lost) =
            load_losing_mail(&db, &w.tenant, UploadOptions::default(), b"userId,email,firstName\nann,ann@x.io,Ann\n")
                .await;
        // The first invitation was made days ago.
        let old = Utc::now() - chrono::Duration::days(6);
        invitation::Entity::update_many()
            .col_expr(invitation::Column::ExpiresAt, Expr::value(old + chrono::Duration::days(load::INVITATION_DAYS)))
            .exec(&db)
            .await
            .unwrap();
        assert_eq!(claim_everything(&db).await.len(), 1);
        let renewed = invitation::Entity::find().one(&db).await.unwrap().unwrap();
        let left = renewed.expires_at - Utc::now();
        assert!(
            left > chrono::Duration::days(load::INVITATION_DAYS) - chrono::Duration::minutes(5),
            "{backend:?}: {left}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_refused_address_is_final_and_its_row_says_not_delivered() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let file = b"userId,email,firstName\nann,ann@x.io,Ann\nbob,bob@x.io,Bob\n";
        let (upload_id, lost) = load_losing_mail(&db, &w.tenant, UploadOptions::default(), file).await;
        let messages: Vec<&load::Message> = lost.iter().flat_map(|m| &m.messages).collect();
        load::mail_sent(&db, &lost[0], &[messages[0].owed]).await.unwrap();
        let refused = load::Delivery::Refused("550 5.1.1 No such user here".into());
        load::mail_failed(&db, &lost[0], messages[1].owed, &refused).await.unwrap();
        assert!(claim_everything(&db).await.is_empty(), "{backend:?}: nothing is owed, nothing renewed");
        assert_eq!(
            outcomes(&db, &w.tenant, upload_id).await,
            [
                ("added".to_owned(), "Added; invitation sent".to_owned()),
                ("added".to_owned(), "Added; invitation not delivered: 550 5.1.1 No such user here".to_owned()),
            ],
            "{backend:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn mail_that_keeps_failing_is_tried_a_bounded_number_of_times() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let (upload_id, lost) =
            load_losing_mail(&db, &w.tenant, UploadOptions::default(), b"userId,email,firstName\nann,ann@x.io,Ann\n")
                .await;
        let down = load::Delivery::Failed("connection refused".into());
        load::mail_failed(&db, &lost[0], lost[0].messages[0].owed, &down).await.unwrap();
        // Not again before its back-off is over.
        assert!(load::claim_unsent_mail(&db, chrono::Duration::zero(), 20).await.unwrap().is_empty(), "{backend:?}");
        let mut tries = 1;
        loop {
            let again = claim_everything(&db).await;
            if again.is_empty() {
                break;
            }
            assert_eq!(again.len(), 1);
            tries += 1;
            load::mail_failed(&db, &again[0], again[0].messages[0].owed, &down).await.unwrap();
            assert!(tries <= load::MAIL_ATTEMPTS, "{backend:?}: tried for ever");
        }
        assert_eq!(tries, load::MAIL_ATTEMPTS, "{backend:?}");
        let results = outcomes(&db, &w.tenant, upload_id).await;
        assert_eq!(
            results[0].1,
            format!("Added; invitation not delivered: connection refused (after {} attempts)", load::MAIL_ATTEMPTS),
            "{backend:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_lost_password_mail_gives_a_new_password_only_to_users_who_never_signed_in() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let mut options = UploadOptions::default();
        options.load.credentials = load::Credentials::GeneratePassword { email: true };
        let bytes = b"userId,email,firstName\ngen1,gen1@x.io,Gen\ngen2,gen2@x.io,Gen\ngen3,gen3@x.io,Gen\n";
        let (upload_id, lost) = load_losing_mail(&db, &w.tenant, options, bytes).await;
        let lost_password = match &lost[0].messages[0].outgoing {
            Outgoing::Password { user_id, password, .. } if user_id == "gen1" => password.clone(),
            other => panic!("{other:?}"),
        };
        // The mail reached gen2 after all, who signed in with it; gen3 set a
        // password of their own.
        let gen2 = find(&db, &w.tenant, "gen2").await.unwrap();
        let gen3 = find(&db, &w.tenant, "gen3").await.unwrap();
        for (id, column) in [(gen2.id, user::Column::LastSignInAt), (gen3.id, user::Column::PasswordChangedAt)] {
            user::Entity::update_many()
                .col_expr(column, Expr::value(Utc::now()))
                .filter(user::Column::Id.eq(id))
                .exec(&db)
                .await
                .unwrap();
        }
        let gen2_hash = gen2.password_hash.clone().unwrap();

        let again = claim_everything(&db).await;
        let renewed: Vec<(String, String)> = again
            .iter()
            .map(|m| match &m.messages[0].outgoing {
                Outgoing::Password { user_id, password, .. } => (user_id.clone(), password.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(renewed.len(), 1, "{backend:?}: only gen1, who never signed in: {renewed:?}");
        let gen1_hash = find(&db, &w.tenant, "gen1").await.unwrap().password_hash.unwrap();
        assert!(muster_store::passwords::verify_blocking(&renewed[0].1, &gen1_hash), "{backend:?}");
        assert!(!muster_store::passwords::verify_blocking(&lost_password, &gen1_hash), "the lost one no longer works");
        assert_eq!(find(&db, &w.tenant, "gen2").await.unwrap().password_hash.unwrap(), gen2_hash, "{backend:?}");
        // The two who had theirs are owed nothing more, and their rows say so.
        assert_eq!(mail_owed::Entity::find().count(&db).await.unwrap(), 1, "{backend:?}");
        let results = outcomes(&db, &w.tenant, upload_id).await;
        assert_eq!(results[1].1, "Added; password used", "{backend:?}");
        assert_eq!(results[2].1, "Added; password used", "{backend:?}");
    })
    .await;
}
