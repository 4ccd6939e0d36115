//! Container id from a process's cgroup paths.
//!
//! Runtimes name a container's cgroup after its 64-hex-digit id, in a few shapes:
//! `/docker/<id>`, `/system.slice/docker-<id>.scope`, `/kubepods/.../<id>`,
//! `cri-containerd-<id>.scope`, `crio-<id>.scope`, `libpod-<id>.scope` (podman), and
//! `/ecs/<task>/<id>`. sysdig shows the first 12 digits, and `host` for everything else.
//! A segment is an id only if it is exactly 64 hex digits after one known prefix and an
//! optional `.scope`, so `libpod-conmon-<id>.scope` (the monitor, outside the container)
//! and unrelated hex names do not match.

/// What sysdig shows for processes outside containers.
pub const HOST: &str = "host";

const PREFIXES: [&str; 6] = [
    "docker-",
    "cri-containerd-",
    "crio-",
    "libpod-",
    "containerd-",
    "",
];

/// The 12-character container id in one cgroup path, if any. The deepest matching segment
/// wins (nested runtimes put the container's own cgroup last).
pub fn container_id_of_path(path: &str) -> Option<String> {
    path.split('/').rev().find_map(segment_id)
}

fn segment_id(seg: &str) -> Option<String> {
    let seg = seg.strip_suffix(".scope").unwrap_or(seg);
    for p in PREFIXES {
        if let Some(rest) = seg.strip_prefix(p)
            && rest.len() == 64
            && rest.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Some(rest[..12].to_ascii_lowercase());
        }
    }
    None
}

/// The container id for a parsed cgroup list (`(controllers, path)` pairs), or `host`.
pub fn container_id(cgroups: &[(String, String)]) -> String {
    cgroups
        .iter()
        .find_map(|(_, p)| container_id_of_path(p))
        .unwrap_or_else(|| HOST.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f2e4c5d6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f";

    fn id_of(p: &str) -> Option<String> {
        container_id_of_path(p)
    }

    #[test]
    fn runtime_forms() {
        let want = Some("3f2e4c5d6a7b".to_string());
        assert_eq!(id_of(&format!("/docker/{ID}")), want);
        assert_eq!(id_of(&format!("/system.slice/docker-{ID}.scope")), want);
        assert_eq!(
            id_of(&format!("/kubepods/besteffort/pod1234-5678/{ID}")),
            want
        );
        assert_eq!(
            id_of(&format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12_34.slice/cri-containerd-{ID}.scope"
            )),
            want
        );
        assert_eq!(
            id_of(&format!(
                "/kubepods.slice/kubepods-pod1.slice/crio-{ID}.scope"
            )),
            want
        );
        assert_eq!(
            id_of(&format!("/machine.slice/libpod-{ID}.scope/container")),
            want
        );
        assert_eq!(id_of(&format!("/ecs/abc/{ID}")), want);
        assert_eq!(
            id_of(&format!("/user.slice/libpod-conmon-{ID}.scope")),
            None
        );
        assert_eq!(id_of("/user.slice/user-0.slice/session-3.scope"), None);
        assert_eq!(id_of("/process_api/eeaca24549848cfc2227684b9ac13d43"), None);
        assert_eq!(id_of("/"), None);
    }

    #[test]
    fn list_falls_back_to_host() {
        let host = vec![("".to_string(), "/".to_string())];
        assert_eq!(container_id(&host), "host");
        let c = vec![
            ("cpu".to_string(), "/".to_string()),
            ("memory".to_string(), format!("/docker/{ID}")),
        ];
        assert_eq!(container_id(&c), "3f2e4c5d6a7b");
    }
}
