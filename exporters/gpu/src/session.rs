//! Loading and initialising NVML, and letting go of it again.
//!
//! One [`Session`] is one successful `nvmlInit`. It lives across collections (initialising NVML
//! for every scrape is slow on hosts without the persistence daemon) until a lifecycle error
//! (a lost GPU, `Uninitialized`, `DriverNotLoaded`) ends it; the next collection then starts a
//! fresh one. Dropping the last reference to a session calls `nvmlShutdown`, which also lets the
//! driver unbind a GPU that NVML was holding.

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicBool, Ordering},
};

use nvml_wrapper::{Nvml, error::NvmlError};

use crate::error::Error;

/// The library nvml-wrapper loads when no path is configured, found through the dynamic
/// linker's search path.
pub const DEFAULT_LIBRARY: &str = "libnvidia-ml.so.1";

/// An initialised NVML.
#[derive(Debug)]
pub struct Session {
    /// The library handle; dropping it shuts NVML down.
    pub nvml: Nvml,
    /// Set when the session has ended, so that the XID listener lets go of it too.
    pub ended: AtomicBool,
}

impl Session {
    /// Marks the session as ended; it is shut down when the last user lets go.
    pub fn end(&self) {
        self.ended.store(true, Ordering::Release);
    }

    /// Whether [`Session::end`] was called.
    pub fn has_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }
}

/// What opening NVML gave.
#[derive(Debug)]
pub enum Opened {
    /// NVML is up.
    Up(Box<Session>),
    /// There is no usable NVIDIA driver on this host: not a failure, a state to report.
    Absent(Absence),
}

/// Why there is no NVML on this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Absence {
    /// libnvidia-ml is not installed.
    LibraryNotFound,
    /// The library is there but the kernel module is not loaded.
    DriverNotLoaded,
}

impl Absence {
    /// The `reason` label of `sysgauge_gpu_nvml_absent`.
    pub fn reason(self) -> &'static str {
        match self {
            Absence::LibraryNotFound => "library_not_found",
            Absence::DriverNotLoaded => "driver_not_loaded",
        }
    }
}

/// Checks a configured library path before it is ever loaded.
pub fn validate_library(path: &Path) -> Result<(), Error> {
    if path.as_os_str().is_empty() {
        return Err(Error::LibraryPath {
            path: path.to_owned(),
            message: "must not be empty",
        });
    }
    if path.components().count() > 1 && !path.is_absolute() {
        return Err(Error::LibraryPath {
            path: path.to_owned(),
            message: "must be absolute, or a bare file name for the dynamic linker to find",
        });
    }
    Ok(())
}

/// Loads the library and initialises NVML.
pub fn open(library: Option<&PathBuf>) -> Result<Opened, Error> {
    let name = library.map_or_else(
        || DEFAULT_LIBRARY.to_owned(),
        |p| sysgauge_common::path_label(p),
    );
    let mut builder = Nvml::builder();
    if let Some(path) = library {
        // dlopen() opens and reads what it is given: a FIFO blocks it forever, a device may
        // never end. A path (not a bare name for the linker to search) must be a regular file,
        // symbolic links followed; a missing one is left to dlopen, which reports it as absent.
        if path.is_absolute() {
            match sysgauge_common::fs::check_regular(path, None) {
                Err(e) if !matches!(e.problem, sysgauge_common::fs::FileProblem::NotFound) => {
                    return Err(Error::Load {
                        library: name,
                        message: e.problem.to_string(),
                    });
                }
                _ => {}
            }
        }
        builder.lib_path(path.as_os_str());
    }
    match builder.init() {
        Ok(nvml) => {
            // nvml-wrapper calls nvmlShutdown when an `Nvml` is dropped and panics when the
            // library lacks it. A real libnvidia-ml always has it; a library without it is
            // refused, and this handle is deliberately leaked instead of dropped.
            if nvml.lib().nvmlShutdown.is_err() {
                std::mem::forget(nvml);
                return Err(Error::MissingSymbol {
                    library: name,
                    symbol: "nvmlShutdown",
                });
            }
            Ok(Opened::Up(Box::new(Session {
                nvml,
                ended: AtomicBool::new(false),
            })))
        }
        Err(NvmlError::LibloadingError(e)) => {
            let message = e.to_string();
            // dlerror() text: "<name>: cannot open shared object file: No such file or directory"
            if message.contains("No such file or directory") {
                Ok(Opened::Absent(Absence::LibraryNotFound))
            } else {
                Err(Error::Load {
                    library: name,
                    message,
                })
            }
        }
        Err(NvmlError::DriverNotLoaded) => Ok(Opened::Absent(Absence::DriverNotLoaded)),
        Err(NvmlError::LibRmVersionMismatch) => Err(Error::VersionMismatch { library: name }),
        Err(source) => Err(Error::Init {
            library: name,
            source,
        }),
    }
}

/// What one NVML call's error means for the collection.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// Leave this metric out: the GPU, the driver or the library does not offer it.
    Omit,
    /// The GPU is gone: mark it lost, skip its other metrics, and start a new session next time.
    Lost,
    /// NVML itself stopped working: fail the collection and start a new session next time.
    Fatal,
}

/// Sorts an NVML error into a [`Failure`].
pub fn classify(error: &NvmlError) -> Failure {
    match error {
        NvmlError::GpuLost | NvmlError::ResetRequired => Failure::Lost,
        // NVML_ERROR_GPU_NOT_FOUND, which nvml-wrapper 0.13 has no variant for.
        NvmlError::UnexpectedVariant(28) => Failure::Lost,
        NvmlError::Uninitialized
        | NvmlError::DriverNotLoaded
        | NvmlError::LibRmVersionMismatch
        | NvmlError::LibloadingError(_) => Failure::Fatal,
        _ => Failure::Omit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_sorted_by_what_they_mean_for_the_collection() {
        assert_eq!(classify(&NvmlError::NotSupported), Failure::Omit);
        assert_eq!(classify(&NvmlError::NoPermission), Failure::Omit);
        assert_eq!(
            classify(&NvmlError::FailedToLoadSymbol("x".into())),
            Failure::Omit
        );
        assert_eq!(classify(&NvmlError::GpuLost), Failure::Lost);
        assert_eq!(classify(&NvmlError::UnexpectedVariant(28)), Failure::Lost);
        assert_eq!(classify(&NvmlError::Uninitialized), Failure::Fatal);
        assert_eq!(classify(&NvmlError::LibRmVersionMismatch), Failure::Fatal);
    }

    #[test]
    fn library_paths_are_absolute_or_bare_names() {
        assert!(validate_library(Path::new("libnvidia-ml.so.1")).is_ok());
        assert!(validate_library(Path::new("/run/opengl-driver/lib/libnvidia-ml.so.1")).is_ok());
        let err = validate_library(Path::new("lib/libnvidia-ml.so.1")).unwrap_err();
        assert!(err.to_string().contains("must be absolute"), "{err}");
        assert!(validate_library(Path::new("")).is_err());
    }

    #[test]
    fn a_missing_library_is_absence_not_failure() {
        let path = PathBuf::from("/nonexistent/libnvidia-ml.so.1");
        match open(Some(&path)) {
            Ok(Opened::Absent(Absence::LibraryNotFound)) => {}
            other => panic!("unexpected: {other:?}"),
        }
    }
}
