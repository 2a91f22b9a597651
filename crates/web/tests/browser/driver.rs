//! The harness's chromedriver on a busy machine: `--port=0` makes it bind ::1 on a port the
//! kernel picks, then 127.0.0.1 on the same port, and exit when another socket holds that one.
//! CI lost that race once, with every loopback socket of the suite around it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use super::harness::Driver;

/// A python3 child holding a listener on every third 127.0.0.1 port of the kernel's
/// ephemeral range (as many as its open-file limit allows), until dropped.
struct PortHolder(Child);

impl PortHolder {
    fn start() -> (PortHolder, usize) {
        let script = "import resource,socket,sys\n\
                      soft,hard=resource.getrlimit(resource.RLIMIT_NOFILE)\n\
                      resource.setrlimit(resource.RLIMIT_NOFILE,(hard,hard))\n\
                      low,high=map(int,open('/proc/sys/net/ipv4/ip_local_port_range').read().split())\n\
                      held=[]\n\
                      for port in range(low,high+1,3):\n\
                      \x20if len(held)>hard-100: break\n\
                      \x20s=socket.socket()\n\
                      \x20try:\n\
                      \x20\x20s.bind(('127.0.0.1',port)); s.listen(1); held.append(s)\n\
                      \x20except OSError:\n\
                      \x20\x20s.close()\n\
                      print(len(held),flush=True)\n\
                      sys.stdin.read()\n";
        let mut child = Command::new("python3")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let held = line.trim().parse().unwrap_or_else(|_| panic!("{line:?}"));
        (PortHolder(child), held)
    }
}

impl Drop for PortHolder {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

/// With a third of the loopback ports taken, a lone chromedriver exits on a taken port in
/// about three starts of ten (12 of 40 here); twenty starts in a row each come up and answer.
#[tokio::test]
async fn chromedriver_comes_up_while_a_third_of_the_loopback_ports_are_taken() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    drop(driver);
    let (_holder, held) = PortHolder::start();
    assert!(
        held > 5000,
        "python3 held only {held} ports (its open-file limit)"
    );
    for _ in 0..20 {
        let driver = Driver::start().await.unwrap();
        let status = reqwest::get(format!("{}/status", driver.url))
            .await
            .unwrap();
        assert_eq!(status.status(), 200);
    }
}
