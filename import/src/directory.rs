//! The tenant as it is when a plan is made: a plain snapshot the server fills
//! from the database (and a browser may fetch), indexed for matching.
use crate::fields::TaskNotification;
use crate::normalize_key;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organisation {
    pub code: String,
    pub name: String,
    pub is_default: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryUser {
    pub id: i64,
    pub user_id: String,
    pub external_id: Option<String>,
    pub title: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: String,
    pub mobile: Option<String>,
    pub job_title: Option<String>,
    /// Organisation code.
    pub organisation: Option<String>,
    pub leaver: bool,
    pub enabled: bool,
    /// The manager's userId.
    pub reports_to: Option<String>,
    pub roles: Vec<String>,
    pub groups: Vec<String>,
    pub task_notification: TaskNotification,
    pub change_password_next_time: bool,
    /// Tenant admins are never retired or deleted by a sync.
    #[serde(default)]
    pub is_admin: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directory {
    pub tenant_slug: String,
    /// Active users allowed; `None` is unlimited.
    pub licence_limit: Option<u64>,
    pub organisations: Vec<Organisation>,
    pub roles: Vec<String>,
    pub groups: Vec<String>,
    pub users: Vec<DirectoryUser>,
    /// The tenant's active users when `users` holds only the ones a file names
    /// (a server reading a large tenant); `None`: count them in `users`.
    #[serde(default)]
    pub active_users: Option<u64>,
}

impl Directory {
    /// An empty tenant with unlimited licences (`validate` without `--tenant`).
    pub fn empty(tenant_slug: &str) -> Self {
        Self {
            tenant_slug: tenant_slug.to_owned(),
            licence_limit: None,
            organisations: vec![Organisation { code: "DEFAULT".into(), name: "Default".into(), is_default: true }],
            ..Self::default()
        }
    }
}

/// Lookups by the normalised keys (case and surrounding spaces ignored).
pub struct DirectoryIndex<'d> {
    pub directory: &'d Directory,
    by_user_id: HashMap<String, usize>,
    by_email: HashMap<String, usize>,
    by_external_id: HashMap<String, usize>,
    organisations: HashMap<String, usize>,
    roles: HashSet<String>,
    groups: HashSet<String>,
    pub active_users: u64,
}

impl<'d> DirectoryIndex<'d> {
    pub fn new(directory: &'d Directory) -> Self {
        let n = directory.users.len();
        let mut index = Self {
            directory,
            by_user_id: HashMap::with_capacity(n),
            by_email: HashMap::with_capacity(n),
            by_external_id: HashMap::new(),
            organisations: directory
                .organisations
                .iter()
                .enumerate()
                .map(|(i, o)| (normalize_key(&o.code), i))
                .collect(),
            roles: directory.roles.iter().map(|r| normalize_key(r)).collect(),
            groups: directory.groups.iter().map(|g| normalize_key(g)).collect(),
            active_users: 0,
        };
        for (i, user) in directory.users.iter().enumerate() {
            index.by_user_id.insert(normalize_key(&user.user_id), i);
            index.by_email.insert(normalize_key(&user.email), i);
            if let Some(ext) = &user.external_id {
                index.by_external_id.insert(normalize_key(ext), i);
            }
            if !user.leaver {
                index.active_users += 1;
            }
        }
        if let Some(active) = directory.active_users {
            index.active_users = active;
        }
        index
    }

    pub fn user(&self, i: usize) -> &'d DirectoryUser {
        &self.directory.users[i]
    }
    pub fn by_user_id(&self, key: &str) -> Option<usize> {
        self.by_user_id.get(key).copied()
    }
    pub fn by_email(&self, key: &str) -> Option<usize> {
        self.by_email.get(key).copied()
    }
    pub fn by_external_id(&self, key: &str) -> Option<usize> {
        self.by_external_id.get(key).copied()
    }
    pub fn organisation(&self, code: &str) -> Option<&'d Organisation> {
        self.organisations.get(&normalize_key(code)).map(|&i| &self.directory.organisations[i])
    }
    pub fn has_role(&self, key: &str) -> bool {
        self.roles.contains(key)
    }
    pub fn has_group(&self, key: &str) -> bool {
        self.groups.contains(key)
    }
    /// Licences left, or `None` when unlimited.
    pub fn licences_remaining(&self) -> Option<u64> {
        self.directory.licence_limit.map(|limit| limit.saturating_sub(self.active_users))
    }
}
