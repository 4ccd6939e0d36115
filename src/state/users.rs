//! Users and groups from /etc/passwd and /etc/group, parsed by hand.
//!
//! A static glibc binary still dlopens NSS modules for `getpwuid`, which may be missing
//! or mismatched on the target machine; the files themselves are plain text. Only local
//! accounts are known (no LDAP/sssd), which is what a static tool can promise. The first
//! entry for an id wins, as it does for NSS's `files` source.

use std::collections::HashMap;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub name: String,
    pub home: String,
    pub shell: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Group {
    pub gid: u32,
    pub name: String,
}

/// A line that is not a valid entry: 1-based line number and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountParseError {
    pub file: &'static str,
    pub line: usize,
    pub what: &'static str,
}

#[derive(Clone, Debug, Default)]
pub struct Users {
    by_uid: HashMap<u32, User>,
}

#[derive(Clone, Debug, Default)]
pub struct Groups {
    by_gid: HashMap<u32, Group>,
}

impl Users {
    /// Parses /etc/passwd text (`name:pw:uid:gid:gecos:home:shell`). Comments, blank lines
    /// and NIS `+`/`-` lines are skipped; malformed lines are reported and skipped.
    pub fn parse(text: &[u8]) -> (Users, Vec<AccountParseError>) {
        let mut u = Users::default();
        let mut errors = Vec::new();
        for (i, line) in String::from_utf8_lossy(text).lines().enumerate() {
            if skip_line(line) {
                continue;
            }
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 7 {
                errors.push(err("passwd", i, "fewer than 7 fields"));
                continue;
            }
            let (Ok(uid), Ok(gid)) = (f[2].parse::<u32>(), f[3].parse::<u32>()) else {
                errors.push(err("passwd", i, "bad uid or gid"));
                continue;
            };
            u.by_uid.entry(uid).or_insert(User {
                uid,
                gid,
                name: f[0].to_string(),
                home: f[5].to_string(),
                shell: f[6].to_string(),
            });
        }
        (u, errors)
    }

    pub fn get(&self, uid: u32) -> Option<&User> {
        self.by_uid.get(&uid)
    }

    pub fn iter(&self) -> impl Iterator<Item = &User> {
        self.by_uid.values()
    }

    /// Adds a user (replaying a capture's snapshot).
    pub fn insert(&mut self, u: User) {
        self.by_uid.insert(u.uid, u);
    }

    pub fn len(&self) -> usize {
        self.by_uid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_uid.is_empty()
    }
}

impl Groups {
    pub fn iter(&self) -> impl Iterator<Item = &Group> {
        self.by_gid.values()
    }

    /// Adds a group (replaying a capture's snapshot).
    pub fn insert(&mut self, g: Group) {
        self.by_gid.insert(g.gid, g);
    }

    /// Parses /etc/group text (`name:pw:gid:members`).
    pub fn parse(text: &[u8]) -> (Groups, Vec<AccountParseError>) {
        let mut g = Groups::default();
        let mut errors = Vec::new();
        for (i, line) in String::from_utf8_lossy(text).lines().enumerate() {
            if skip_line(line) {
                continue;
            }
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 3 {
                errors.push(err("group", i, "fewer than 3 fields"));
                continue;
            }
            let Ok(gid) = f[2].parse::<u32>() else {
                errors.push(err("group", i, "bad gid"));
                continue;
            };
            g.by_gid.entry(gid).or_insert(Group {
                gid,
                name: f[0].to_string(),
            });
        }
        (g, errors)
    }

    pub fn get(&self, gid: u32) -> Option<&Group> {
        self.by_gid.get(&gid)
    }

    pub fn len(&self) -> usize {
        self.by_gid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_gid.is_empty()
    }
}

fn skip_line(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#') || t.starts_with('+') || t.starts_with('-')
}

fn err(file: &'static str, i: usize, what: &'static str) -> AccountParseError {
    AccountParseError {
        file,
        line: i + 1,
        what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lines() {
        let text = b"root:x:0:0:root:/root:/bin/bash\n# comment\n\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\nbroken:x:zz:1::/:/bin/sh\nshort:x:1\nroot2:x:0:0::/r2:/bin/sh\n+nis::::::\n";
        let (u, errs) = Users::parse(text);
        assert_eq!(u.len(), 2);
        let r = u.get(0).unwrap();
        assert_eq!(
            (r.name.as_str(), r.home.as_str(), r.shell.as_str()),
            ("root", "/root", "/bin/bash")
        );
        assert_eq!(u.get(33).unwrap().name, "www-data");
        assert_eq!(errs.len(), 2);
        assert_eq!(errs[0].line, 5);
        assert_eq!(errs[1].line, 6);
    }

    #[test]
    fn group_lines() {
        let (g, errs) = Groups::parse(b"root:x:0:\nadm:x:4:syslog,me\nbad:x:\nnogroup:x:65534:\n");
        assert_eq!(g.get(4).unwrap().name, "adm");
        assert_eq!(g.get(65534).unwrap().name, "nogroup");
        assert!(g.get(5).is_none());
        assert_eq!(errs.len(), 1);
    }
}
