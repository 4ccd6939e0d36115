//! The /proc snapshot on this machine: our own process, files, sockets and pipes we hold.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use tpdig::state::{FdKind, State, proc_scan};

#[test]
fn snapshot_shows_our_process_files_sockets_and_pipes() {
    let dir = std::env::temp_dir().join(format!("tpdig-state-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("held.txt");
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(b"x").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (server, _) = listener.accept().unwrap();
    let cport = client.local_addr().unwrap().port();
    let (r, w) = nix::unistd::pipe().unwrap();

    let mut st = State::default();
    let report = proc_scan::scan_state(Path::new("/proc"), Path::new("/etc"), &mut st);
    assert!(report.processes > 0 && report.fds > 0, "{report:?}");

    let me = std::process::id();
    let p = st.process(me).expect("our process");
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(p.cwd.as_deref(), cwd.to_str());
    let exe = std::env::current_exe().unwrap();
    assert_eq!(p.exepath.as_deref(), exe.to_str());
    assert!(p.args.is_some());
    assert!(p.container_id.is_some());

    let t = st.thread(me).expect("our main thread");
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(t.euid, Some(euid));
    if euid == 0 && st.user(0).is_some() {
        assert_eq!(st.user_name(0), Some("root"));
    }

    let f = st.fd_info(me, file.as_raw_fd()).expect("held file");
    assert_eq!(f.kind, FdKind::File);
    assert_eq!(f.name, path.to_str().unwrap());

    let l = st.fd_info(me, listener.as_raw_fd()).expect("listener");
    assert_eq!(l.tag(), "4t");
    assert_eq!(l.name, format!("127.0.0.1:{port}"));
    let c = st.fd_info(me, client.as_raw_fd()).expect("client");
    assert_eq!(c.name, format!("127.0.0.1:{cport}->127.0.0.1:{port}"));
    let s = st.fd_info(me, server.as_raw_fd()).expect("accepted");
    assert_eq!(
        s.name,
        format!("127.0.0.1:{cport}->127.0.0.1:{port}"),
        "the accepted side shows client->server too"
    );

    let pr = st.fd_info(me, r.as_raw_fd()).expect("pipe read end");
    assert_eq!(pr.kind.letter(), 'p');
    assert!(pr.name.starts_with("pipe:["));
    assert_eq!(st.fd_info(me, w.as_raw_fd()).unwrap().ino, pr.ino);

    drop(file);
    let _ = std::fs::remove_dir_all(&dir);
}
