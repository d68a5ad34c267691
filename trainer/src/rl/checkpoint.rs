//! Run state on disk: one safetensors file holding the adapter, the
//! optimiser's moments and (in its metadata) the step, the RNG and the data
//! cursor. It is replaced atomically (write a temporary file, fsync, rename,
//! fsync the folder), so a crash leaves the previous checkpoint whole.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;

use anyhow::{anyhow, Context};
use candle_core::{Device, Tensor};
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

use super::optim::AdamW;

const STATE_KEY: &str = "recode_train_state";
const ADAPTER: &str = "adapter/";
const FIRST_MOMENT: &str = "adam_m/";
const SECOND_MOMENT: &str = "adam_v/";

/// Where the training data is read next: the epoch (each has its own
/// shuffle, derived from the seed) and the position in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataCursor {
    pub epoch: u64,
    pub position: usize,
}

/// Everything but tensors that a resumed run needs to continue exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Steps completed.
    pub step: u64,
    /// The sampling RNG as it is after `step` steps.
    pub rng: Pcg64,
    pub cursor: DataCursor,
}

/// The checkpoint's metadata: the run state and the optimiser's update count.
#[derive(Serialize, Deserialize)]
struct StoredState {
    updates: u64,
    run: RunState,
}

/// Writes the adapter (the optimiser's parameters), the moments and `state` to `path`.
pub fn save(path: &Path, optimizer: &AdamW, state: &RunState) -> anyhow::Result<()> {
    let mut tensors: Vec<(String, Tensor)> = Vec::new();
    for (name, var) in optimizer.params() {
        tensors.push((format!("{ADAPTER}{name}"), var.as_tensor().clone()));
    }
    for (name, first, second) in optimizer.moments() {
        tensors.push((format!("{FIRST_MOMENT}{name}"), first.clone()));
        tensors.push((format!("{SECOND_MOMENT}{name}"), second.clone()));
    }
    let mut metadata = HashMap::new();
    // Straight to text: a `serde_json::Value` cannot hold the RNG's u128s.
    let stored = StoredState { updates: optimizer.updates(), run: state.clone() };
    metadata.insert(STATE_KEY.to_owned(), serde_json::to_string(&stored)?);
    let bytes = safetensors::serialize(tensors, Some(metadata))?;
    write_atomically(path, &bytes)
}

/// Reads `path` into `optimizer` (parameters and moments) and returns the run state.
pub fn load(path: &Path, optimizer: &mut AdamW, device: &Device) -> anyhow::Result<RunState> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)?;
    let state = header
        .metadata()
        .as_ref()
        .and_then(|metadata| metadata.get(STATE_KEY))
        .ok_or_else(|| anyhow!("{} is not a recode-train checkpoint (no run state)", path.display()))?;
    let stored: StoredState =
        serde_json::from_str(state).with_context(|| format!("the run state in {}", path.display()))?;
    let mut tensors = candle_core::safetensors::load_buffer(&bytes, device)?;
    let mut take = |key: String| tensors.remove(&key).ok_or_else(|| anyhow!("{} has no tensor {key}", path.display()));
    for (name, var) in optimizer.params() {
        let value = take(format!("{ADAPTER}{name}"))?;
        anyhow::ensure!(
            value.shape() == var.shape(),
            "{name}: checkpoint {:?}, adapter {:?}",
            value.shape(),
            var.shape()
        );
        var.set(&value.to_dtype(var.dtype())?)?;
    }
    optimizer.restore(stored.updates, |name| {
        Ok((take(format!("{FIRST_MOMENT}{name}"))?, take(format!("{SECOND_MOMENT}{name}"))?))
    })?;
    Ok(stored.run)
}

/// Replaces `path` with `bytes` so that a reader (or a crash) sees the old
/// file or the new one, never a mix.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| anyhow!("{} names no file", path.display()))?;
    let temporary = folder.join(format!(".{}.tmp", name.to_string_lossy()));
    let mut file = File::create(&temporary).with_context(|| format!("creating {}", temporary.display()))?;
    file.write_all(bytes).with_context(|| format!("writing {}", temporary.display()))?;
    file.sync_all().with_context(|| format!("syncing {}", temporary.display()))?;
    drop(file);
    std::fs::rename(&temporary, path)
        .with_context(|| format!("renaming {} to {}", temporary.display(), path.display()))?;
    // The rename is durable only once the folder's entry is on disk.
    File::open(folder)?.sync_all().with_context(|| format!("syncing {}", folder.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rl::config::OptimizerConfig;
    use candle_core::Var;
    use rand::{RngCore, SeedableRng};

    #[test]
    fn a_checkpoint_restores_adapter_moments_and_state() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("checkpoint.safetensors");
        let var = Var::new(&[1.0f32, -2.0], &Device::Cpu).unwrap();
        let mut adam = AdamW::new(vec![("a.lora_A.weight".into(), var.clone())], &OptimizerConfig::default()).unwrap();
        adam.step(&[Tensor::new(&[0.5f32, -0.1], &Device::Cpu).unwrap()], 0.1).unwrap();
        let mut rng = Pcg64::seed_from_u64(7);
        rng.next_u64();
        let state = RunState { step: 3, rng: rng.clone(), cursor: DataCursor { epoch: 1, position: 5 } };
        save(&path, &adam, &state).unwrap();
        let saved_values = var.as_tensor().to_vec1::<f32>().unwrap();
        let saved_moments: Vec<Vec<f32>> =
            adam.moments().iter().flat_map(|(_, m, v)| [m.to_vec1().unwrap(), v.to_vec1().unwrap()]).collect();

        let fresh = Var::new(&[0.0f32, 0.0], &Device::Cpu).unwrap();
        let mut restored =
            AdamW::new(vec![("a.lora_A.weight".into(), fresh.clone())], &OptimizerConfig::default()).unwrap();
        let loaded = load(&path, &mut restored, &Device::Cpu).unwrap();
        assert_eq!(loaded, state);
        assert_eq!(loaded.rng.clone().next_u64(), rng.next_u64());
        assert_eq!(fresh.as_tensor().to_vec1::<f32>().unwrap(), saved_values);
        assert_eq!(restored.updates(), 1);
        let restored_moments: Vec<Vec<f32>> =
            restored.moments().iter().flat_map(|(_, m, v)| [m.to_vec1().unwrap(), v.to_vec1().unwrap()]).collect();
        assert_eq!(restored_moments, saved_moments);
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(folder.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("checkpoint.safetensors")]);
    }

    #[test]
    fn a_checkpoint_of_another_adapter_is_refused() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("checkpoint.safetensors");
        let adam =
            AdamW::new(vec![("a".into(), Var::new(&[1.0f32], &Device::Cpu).unwrap())], &OptimizerConfig::default())
                .unwrap();
        let state = RunState { step: 1, rng: Pcg64::seed_from_u64(0), cursor: DataCursor::default() };
        save(&path, &adam, &state).unwrap();
        let mut other =
            AdamW::new(vec![("b".into(), Var::new(&[1.0f32], &Device::Cpu).unwrap())], &OptimizerConfig::default())
                .unwrap();
        let error = load(&path, &mut other, &Device::Cpu).unwrap_err();
        assert!(error.to_string().contains("adapter/b"), "{error}");
    }
}
