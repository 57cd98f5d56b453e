//! The error type of sysgauge-gpu.

use std::path::PathBuf;

use nvml_wrapper::error::NvmlError;

/// Why a collection failed as a whole. Problems with one GPU or one metric are not errors:
/// an unsupported metric is left out, a lost GPU is `sysgauge_gpu_lost 1`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kernel module and libnvidia-ml come from different driver versions.
    #[error(
        "NVIDIA driver/library version mismatch: the loaded nvidia kernel module and {library} \
         come from different driver versions (usually a driver upgrade without a reboot); \
         reboot or reload the nvidia kernel modules"
    )]
    VersionMismatch {
        /// The library that was loaded.
        library: String,
    },
    /// The library exists but could not be loaded (wrong architecture, broken file).
    #[error("cannot load the NVML library {library}: {message}")]
    Load {
        /// The library.
        library: String,
        /// What dlopen said.
        message: String,
    },
    /// nvmlInit failed for another reason.
    #[error("nvmlInit failed with {library}")]
    Init {
        /// The library.
        library: String,
        /// NVML's error.
        #[source]
        source: NvmlError,
    },
    /// The library lacks a function that nvml-wrapper calls when it lets go of NVML; using it
    /// would end in a panic, so it is not used.
    #[error(
        "{library} is not a usable NVML library: it lacks {symbol}, which every libnvidia-ml has"
    )]
    MissingSymbol {
        /// The library.
        library: String,
        /// The missing function.
        symbol: &'static str,
    },
    /// NVML stopped answering mid-collection (uninitialised, driver unloaded); it is shut
    /// down and initialised again at the next collection.
    #[error("NVML failed during {call}; it will be initialised again at the next collection")]
    Lifecycle {
        /// The NVML function.
        call: &'static str,
        /// NVML's error.
        #[source]
        source: NvmlError,
    },
    /// The previous collection is still inside NVML (a hung driver); this one does not queue
    /// behind it.
    #[error(
        "the previous NVML collection has not returned yet (hung driver?); not starting another"
    )]
    Busy,
    /// The blocking task that talks to NVML failed.
    #[error("the NVML task failed: {0}")]
    Task(String),
    /// The configured library path is unusable.
    #[error("invalid NVML library path {path}: {message}")]
    LibraryPath {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        message: &'static str,
    },
}
