//! Arguments by name, live: fd names, paths from the probe tier, tuples from the kernel's
//! socket-state records, inherited fd tables. Each test traces one command (`--`), so only
//! that command's process tree reaches the rings.

mod common;

use common::*;

fn trace(args: &[&str]) -> (Vec<Line>, String) {
    let out = run(args, &[]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "tpdig {args:?} failed: {err}");
    (
        parse_event_lines(&String::from_utf8_lossy(&out.stdout)),
        err,
    )
}

fn has_python() -> bool {
    std::process::Command::new("python3")
        .arg("-c")
        .arg("1")
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn cat_of_a_known_file_names_its_open_and_read() {
    if !can_trace() {
        return;
    }
    let _g = serial();
    let path = std::env::temp_dir().join(format!("tpdig-names-{}", std::process::id()));
    std::fs::write(&path, b"hello names\n").unwrap();
    let p = path.to_str().unwrap();
    let (lines, err) = trace(&["--", "cat", p]);
    let open = lines
        .iter()
        .find(|l| l.dir == "<" && l.kind == "openat" && l.info.contains(&format!("name={p} ")))
        .unwrap_or_else(|| panic!("no openat exit naming {p}; stderr:\n{err}"));
    let fd: i64 = open
        .info
        .strip_prefix("fd=")
        .unwrap()
        .split('(')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        open.info.starts_with(&format!("fd={fd}(<f>{p}) ")),
        "{}",
        open.info
    );
    assert!(open.info.contains("flags="), "{}", open.info);
    assert!(open.info.contains("O_RDONLY"), "{}", open.info);
    let read = lines
        .iter()
        .find(|l| l.dir == ">" && l.kind == "read" && l.tid == open.tid && l.num > open.num)
        .unwrap();
    assert!(
        read.info.starts_with(&format!("fd={fd}(<f>{p}) ")),
        "read names the fd: {}",
        read.info
    );
    let rd = lines
        .iter()
        .find(|l| l.dir == "<" && l.kind == "read" && l.num > read.num)
        .unwrap();
    assert!(rd.info.starts_with("res=12 "), "{}", rd.info);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_failed_open_shows_enoent_with_its_path() {
    if !can_trace() {
        return;
    }
    let _g = serial();
    let out = run(&["--", "cat", "/nonexistent/tpdig-x"], &[]);
    assert_eq!(out.status.code(), Some(1), "cat's own status");
    let lines = parse_event_lines(&String::from_utf8_lossy(&out.stdout));
    assert!(
        lines.iter().any(|l| l.dir == "<"
            && l.kind == "openat"
            && l.info.starts_with("fd=-2(ENOENT) ")
            && l.info.contains("name=/nonexistent/tpdig-x ")),
        "failed open with its path"
    );
}

#[test]
fn a_forked_child_inherits_fd_names() {
    if !can_trace() {
        return;
    }
    let _g = serial();
    // sh opens fd 3, forks; the child dup2s it onto stdin and execs head, which reads fd 0.
    let (lines, _) = trace(&[
        "--",
        "sh",
        "-c",
        "exec 3</etc/hostname; head -c1 <&3 >/dev/null",
    ]);
    let sh = lines
        .iter()
        .find(|l| l.kind == "openat" && l.dir == "<" && l.info.contains("name=/etc/hostname"))
        .unwrap();
    let head_read = lines
        .iter()
        .find(|l| {
            l.comm == "head" && l.kind == "read" && l.dir == ">" && l.info.starts_with("fd=0(")
        })
        .expect("head reads its stdin");
    assert_ne!(sh.tid, head_read.tid);
    assert!(
        head_read.info.starts_with("fd=0(<f>/etc/hostname) "),
        "{}",
        head_read.info
    );
}

#[test]
fn a_loopback_tcp_connection_shows_its_tuple_everywhere() {
    if !can_trace() || !has_python() {
        eprintln!("skipped: needs root and python3");
        return;
    }
    let _g = serial();
    let script = "import socket\n\
        s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen()\n\
        p=s.getsockname()[1]\n\
        c=socket.socket(); c.connect(('127.0.0.1',p)); a,_=s.accept()\n\
        c.send(b'hello'); a.recv(10); a.send(b'back'); c.recv(10)\n";
    let out = run(&["--", "python3", "-c", script], &[]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines = parse_event_lines(&text);
    // The port the kernel chose, as connect's entry names its destination (from the probe).
    // Python may talk to nscd first (no HOME in CI makes it look up the user), so pick the
    // loopback connect rather than the first one.
    let enter = lines
        .iter()
        .find(|l| l.kind == "connect" && l.dir == ">" && l.info.contains("addr=127.0.0.1:"))
        .expect("loopback connect entry");
    let port: u16 = enter
        .info
        .split("addr=127.0.0.1:")
        .nth(1)
        .expect("addr named")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let connect = lines
        .iter()
        .find(|l| {
            l.kind == "connect"
                && l.dir == "<"
                && l.tid == enter.tid
                && l.info.contains("tuple=127.0.0.1:")
        })
        .expect("connect exit");
    let tuple = connect
        .info
        .split("tuple=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    assert!(
        tuple.starts_with("127.0.0.1:") && tuple.ends_with(&format!("->127.0.0.1:{port}")),
        "{tuple}"
    );
    assert!(
        !tuple.starts_with("127.0.0.1:0->"),
        "the client port is known: {tuple}"
    );
    let accept = lines
        .iter()
        .find(|l| l.kind == "accept" && l.dir == "<")
        .expect("accept exit");
    assert!(
        accept.info.contains(&format!("(<4t>{tuple})")),
        "accept's fd: {}",
        accept.info
    );
    for kind in ["sendto", "recvfrom"] {
        let io: Vec<&Line> = lines
            .iter()
            .filter(|l| l.kind == kind && l.dir == ">")
            .collect();
        assert!(io.len() >= 2, "{kind} calls");
        assert!(
            io.iter().all(|l| l.info.contains(&format!("<4t>{tuple})"))),
            "{kind}: {io:?}"
        );
    }
    let listen = lines.iter().find(|l| l.kind == "listen" && l.dir == "<");
    assert!(listen.is_some());
}

#[test]
fn a_unix_socket_renders_as_u() {
    if !can_trace() || !has_python() {
        return;
    }
    let _g = serial();
    let path = format!("/tmp/tpdig-unix-{}", std::process::id());
    let script = format!(
        "import socket,os\n\
         s=socket.socket(socket.AF_UNIX); s.bind('{path}'); s.listen()\n\
         c=socket.socket(socket.AF_UNIX); c.connect('{path}'); a,_=s.accept()\n\
         c.send(b'x'); a.recv(1); os.unlink('{path}')\n"
    );
    let (lines, _) = trace(&["--", "python3", "-c", &script]);
    let send = lines
        .iter()
        .find(|l| l.kind == "sendto" && l.dir == ">")
        .expect("send");
    assert!(
        send.info.starts_with("fd=") && send.info.contains("(<u>"),
        "{}",
        send.info
    );
    // Not the first connect: python may ask nscd before running the script.
    let connect = lines
        .iter()
        .find(|l| l.kind == "connect" && l.dir == ">" && !l.info.contains("/nscd/"))
        .expect("connect");
    assert!(
        connect.info.contains(&path),
        "connect names the path: {}",
        connect.info
    );
}

#[test]
fn a_pipe_created_at_run_time_renders_as_p() {
    if !can_trace() {
        return;
    }
    let _g = serial();
    // The pipe's fds come back through user memory; the post-syscall probe reads them.
    let (lines, err) = trace(&["--", "sh", "-c", "echo hi | cat > /dev/null"]);
    let write = lines
        .iter()
        .find(|l| l.kind == "write" && l.dir == ">" && l.info.starts_with("fd=1("));
    let write = write.unwrap_or_else(|| panic!("echo's write; stderr:\n{err}"));
    assert!(write.info.starts_with("fd=1(<p>"), "{}", write.info);
    let read = lines.iter().find(|l| {
        l.comm == "cat" && l.kind == "read" && l.dir == ">" && l.info.starts_with("fd=0(")
    });
    assert!(
        read.is_some_and(|r| r.info.starts_with("fd=0(<p>")),
        "cat reads the pipe: {read:?}"
    );
}

#[test]
fn an_exec_shows_its_program_and_arguments() {
    if !can_trace() {
        return;
    }
    let _g = serial();
    let (lines, _) = trace(&[
        "evt.type=execve",
        "--",
        "sh",
        "-c",
        "cat /etc/hostname /etc/hostname >/dev/null",
    ]);
    let enter = lines.iter().find(|l| {
        l.dir == ">" && l.info.starts_with("filename=/usr/bin/cat ")
            || l.info.starts_with("filename=/bin/cat ")
    });
    assert!(enter.is_some(), "the exec's path: {lines:?}");
    let exit = lines
        .iter()
        .find(|l| l.dir == "<" && l.comm == "cat")
        .expect("cat's execve exit");
    assert!(
        exit.info
            .starts_with("res=0 exe=cat args=/etc/hostname./etc/hostname. "),
        "{}",
        exit.info
    );
    // The traced command's own exec, through tpdig's starter, is named too.
    let first = lines
        .iter()
        .find(|l| l.dir == "<" && l.comm == "sh")
        .expect("sh's execve exit");
    assert!(
        first
            .info
            .contains("exe=sh args=-c.cat /etc/hostname /etc/hostname >/dev/null."),
        "{}",
        first.info
    );
}
