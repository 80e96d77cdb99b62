//! TEMPORARY stub until the spawn branch lands (same public API).
use crate::config::ProcessSpec;
use std::os::fd::OwnedFd;
#[derive(Debug)]
pub enum ChildFd { Inherit, Null, Fd(OwnedFd) }
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SpawnError(String);
pub fn spawn(spec: &ProcessSpec, stdout: ChildFd, stderr: ChildFd) -> Result<nix::unistd::Pid, SpawnError> {
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    let mut cmd = std::process::Command::new(&spec.cmd[0]);
    cmd.args(&spec.cmd[1..]).envs(&spec.env).current_dir(&spec.workingdir).stdin(Stdio::null());
    let conv = |c: ChildFd| match c { ChildFd::Inherit => Stdio::inherit(), ChildFd::Null => Stdio::null(), ChildFd::Fd(fd) => Stdio::from(fd) };
    cmd.stdout(conv(stdout)).stderr(conv(stderr));
    unsafe { cmd.pre_exec(|| { nix::unistd::setsid().map_err(std::io::Error::from)?; Ok(()) }); }
    let child = cmd.spawn().map_err(|e| SpawnError(format!("exec {}: {e}", spec.cmd[0])))?;
    Ok(nix::unistd::Pid::from_raw(child.id() as i32))
}
pub fn signal_group(pid: nix::unistd::Pid, signal: i32) -> nix::Result<()> {
    let sig = nix::sys::signal::Signal::try_from(signal)?;
    nix::sys::signal::killpg(pid, sig)
}
