//! AdamW with its moments in the open (they go into checkpoints, which
//! candle-nn's `AdamW` does not expose), the warm-up + cosine schedule,
//! global-norm clipping and gradient accumulation.

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};

use super::config::OptimizerConfig;

/// Decoupled weight decay Adam (Loshchilov & Hutter), as `torch.optim.AdamW`.
pub struct AdamW {
    params: Vec<(String, Var)>,
    /// First and second moments, f32 whatever the parameters' dtype, so a
    /// bf16 adapter does not lose its small updates in the moments.
    first: Vec<Tensor>,
    second: Vec<Tensor>,
    /// Updates made so far (the bias corrections' t).
    updates: u64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
}

impl AdamW {
    pub fn new(params: Vec<(String, Var)>, config: &OptimizerConfig) -> candle_core::Result<AdamW> {
        let zeros = |var: &Var| var.as_tensor().zeros_like()?.to_dtype(DType::F32);
        let first = params.iter().map(|(_, var)| zeros(var)).collect::<candle_core::Result<_>>()?;
        let second = params.iter().map(|(_, var)| zeros(var)).collect::<candle_core::Result<_>>()?;
        Ok(AdamW {
            params,
            first,
            second,
            updates: 0,
            beta1: config.beta1,
            beta2: config.beta2,
            eps: config.eps,
            weight_decay: config.weight_decay,
        })
    }

    pub fn params(&self) -> &[(String, Var)] {
        &self.params
    }

    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// One update with `grads` in the order of the parameters.
    pub fn step(&mut self, grads: &[Tensor], learning_rate: f64) -> candle_core::Result<()> {
        self.updates += 1;
        let t = self.updates as i32;
        let first_correction = 1.0 - self.beta1.powi(t);
        let second_correction = 1.0 - self.beta2.powi(t);
        for (index, ((_, var), grad)) in self.params.iter().zip(grads).enumerate() {
            let grad = grad.to_dtype(DType::F32)?;
            let first = ((&self.first[index] * self.beta1)? + (&grad * (1.0 - self.beta1))?)?;
            let second = ((&self.second[index] * self.beta2)? + (grad.sqr()? * (1.0 - self.beta2))?)?;
            let step = ((&first / first_correction)? / ((&second / second_correction)?.sqrt()? + self.eps)?)?;
            let param = var.as_tensor().to_dtype(DType::F32)?;
            let decayed = (&param * (1.0 - learning_rate * self.weight_decay))?;
            var.set(&(decayed - (step * learning_rate)?)?.to_dtype(var.dtype())?)?;
            self.first[index] = first;
            self.second[index] = second;
        }
        Ok(())
    }

    /// The moments by parameter name, for a checkpoint.
    pub fn moments(&self) -> Vec<(String, &Tensor, &Tensor)> {
        self.params
            .iter()
            .zip(self.first.iter().zip(&self.second))
            .map(|((name, _), (first, second))| (name.clone(), first, second))
            .collect()
    }

    /// Restores a checkpoint's moments and update count; `moment` gives the
    /// (first, second) moments of a parameter name.
    pub fn restore(
        &mut self,
        updates: u64,
        mut moment: impl FnMut(&str) -> anyhow::Result<(Tensor, Tensor)>,
    ) -> anyhow::Result<()> {
        for (index, (name, var)) in self.params.iter().enumerate() {
            let (first, second) = moment(name)?;
            anyhow::ensure!(
                first.shape() == var.shape() && second.shape() == var.shape(),
                "the checkpoint's moments of {name} have shape {:?}, the adapter {:?}",
                first.shape(),
                var.shape()
            );
            self.first[index] = first.to_dtype(DType::F32)?.to_device(var.device())?;
            self.second[index] = second.to_dtype(DType::F32)?.to_device(var.device())?;
        }
        self.updates = updates;
        Ok(())
    }
}

/// The learning rate of update `update` (0-based): linear warm-up reaching
/// the peak at update `warmup − 1`, then cosine decay to 0 at `total`. The
/// first update already moves (HF's schedule gives it rate 0).
pub fn learning_rate(peak: f64, update: u64, warmup: u64, total: u64) -> f64 {
    if update < warmup {
        return peak * (update + 1) as f64 / warmup as f64;
    }
    let decay_steps = total.saturating_sub(warmup).max(1);
    let progress = ((update - warmup) as f64 / decay_steps as f64).min(1.0);
    peak * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}

/// Scales `grads` so their global L2 norm is at most `max_norm` (0: no
/// bound) and returns the norm before scaling.
pub fn clip_global_norm(grads: &mut [Tensor], max_norm: f64) -> candle_core::Result<f64> {
    let mut squares = 0.0;
    for grad in grads.iter() {
        squares += grad.to_dtype(DType::F64)?.sqr()?.sum_all()?.to_scalar::<f64>()?;
    }
    let norm = squares.sqrt();
    if max_norm > 0.0 && norm > max_norm {
        // torch's clip_grad_norm_ adds 1e-6 so a norm just over the bound stays under it.
        let scale = max_norm / (norm + 1e-6);
        for grad in grads.iter_mut() {
            *grad = (&*grad * scale)?;
        }
    }
    Ok(norm)
}

/// Sums the gradients of several backward passes, per parameter.
pub struct GradAccumulator {
    sums: Vec<Option<Tensor>>,
}

impl GradAccumulator {
    pub fn new(params: usize) -> GradAccumulator {
        GradAccumulator { sums: vec![None; params] }
    }

    pub fn add(&mut self, params: &[(String, Var)], grads: &GradStore) -> candle_core::Result<()> {
        for ((_, var), sum) in params.iter().zip(&mut self.sums) {
            if let Some(grad) = grads.get(var.as_tensor()) {
                *sum = Some(match sum.take() {
                    Some(previous) => (previous + grad)?,
                    None => grad.clone(),
                });
            }
        }
        Ok(())
    }

    /// The summed gradients in parameter order; a parameter the loss never
    /// reached has gradient zero.
    pub fn finish(self, params: &[(String, Var)]) -> candle_core::Result<Vec<Tensor>> {
        params
            .iter()
            .zip(self.sums)
            .map(|((_, var), sum)| match sum {
                Some(sum) => Ok(sum),
                None => var.as_tensor().zeros_like(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn close(actual: f64, expected: f64) {
        assert!((actual - expected).abs() < 1e-6 * expected.abs().max(1.0), "{actual} != {expected}");
    }

    fn values(var: &Var) -> Vec<f32> {
        var.as_tensor().to_vec1().unwrap()
    }

    #[test]
    fn adamw_steps_by_hand() {
        // θ = [1, −2], g = [0.5, −0.1], lr 0.1, β1 0.9, β2 0.999, ε 1e-8, wd 0.1.
        // Step 1: m = 0.1·g, v = 0.001·g²; m̂ = g, v̂ = g²; m̂/(√v̂ + ε) = sign(g)
        //   (to 1e-8); θ ← θ·(1 − 0.1·0.1) − 0.1·sign(g) = [0.89, −1.88].
        // Step 2 with the same g: m = 0.19·g, v = 0.001999·g²; m̂ = 0.19/0.19 g = g,
        //   v̂ = 0.001999/0.001999 g² = g²: again sign(g):
        //   θ ← [0.89·0.99 − 0.1, −1.88·0.99 + 0.1] = [0.7811, −1.7612].
        let var = Var::new(&[1.0f32, -2.0], &Device::Cpu).unwrap();
        let config = OptimizerConfig { weight_decay: 0.1, ..OptimizerConfig::default() };
        let mut adam = AdamW::new(vec![("w".into(), var.clone())], &config).unwrap();
        let grad = Tensor::new(&[0.5f32, -0.1], &Device::Cpu).unwrap();
        adam.step(std::slice::from_ref(&grad), 0.1).unwrap();
        let after_one = values(&var);
        close(after_one[0] as f64, 0.89);
        close(after_one[1] as f64, -1.88);
        adam.step(&[grad], 0.1).unwrap();
        let after_two = values(&var);
        close(after_two[0] as f64, 0.7811);
        close(after_two[1] as f64, -1.7612);
        assert_eq!(adam.updates(), 2);
        let moments = adam.moments();
        // m after two steps: 0.19·g = [0.095, −0.019]; v: 0.001999·g² = [0.00049975, 0.00001999].
        let (first, second) = (moments[0].1.to_vec1::<f32>().unwrap(), moments[0].2.to_vec1::<f32>().unwrap());
        close(first[0] as f64, 0.095);
        close(first[1] as f64, -0.019);
        close(second[0] as f64, 0.00049975);
        close(second[1] as f64, 0.00001999);
    }

    #[test]
    fn the_schedule_warms_up_then_decays_along_a_cosine() {
        // Peak 1, warm-up 4, total 12: updates 0..3 → 0.25, 0.5, 0.75, 1;
        // then progress (u − 4)/8: u = 4 → 1, u = 8 → 0.5·(1 + cos π/2) = 0.5,
        // u = 12 → 0, and it stays 0 beyond.
        let rates: Vec<f64> = [0, 1, 2, 3, 4, 8, 12, 20].iter().map(|&u| learning_rate(1.0, u, 4, 12)).collect();
        let expected = [0.25, 0.5, 0.75, 1.0, 1.0, 0.5, 0.0, 0.0];
        for (actual, expected) in rates.iter().zip(expected) {
            close(*actual, expected);
        }
        close(learning_rate(5e-5, 0, 0, 10), 5e-5);
    }

    #[test]
    fn clipping_scales_to_the_global_norm() {
        // grads [3, 0] and [4]: norm 5; bound 1 → scaled by 1/(5 + 1e-6).
        let mut grads =
            vec![Tensor::new(&[3.0f32, 0.0], &Device::Cpu).unwrap(), Tensor::new(&[4.0f32], &Device::Cpu).unwrap()];
        let norm = clip_global_norm(&mut grads, 1.0).unwrap();
        close(norm, 5.0);
        close(grads[0].to_vec1::<f32>().unwrap()[0] as f64, 3.0 / 5.000001);
        close(grads[1].to_vec1::<f32>().unwrap()[0] as f64, 4.0 / 5.000001);
        let mut small = vec![Tensor::new(&[0.3f32, 0.4], &Device::Cpu).unwrap()];
        close(clip_global_norm(&mut small, 1.0).unwrap(), 0.5);
        assert_eq!(small[0].to_vec1::<f32>().unwrap(), vec![0.3, 0.4]);
    }

    #[test]
    fn accumulated_gradients_are_the_sum_of_the_passes() {
        // loss₁ = 2·Σw, loss₂ = Σw²/2 at w = [1, 3]: gradients 2 and w; sum [3, 5].
        // `unused` never enters a loss and gets a zero gradient.
        let w = Var::new(&[1.0f32, 3.0], &Device::Cpu).unwrap();
        let unused = Var::new(&[7.0f32], &Device::Cpu).unwrap();
        let params = vec![("w".to_string(), w.clone()), ("unused".to_string(), unused)];
        let mut accumulator = GradAccumulator::new(params.len());
        let first = (w.as_tensor().sum_all().unwrap() * 2.0).unwrap();
        accumulator.add(&params, &first.backward().unwrap()).unwrap();
        let second = (w.as_tensor().sqr().unwrap().sum_all().unwrap() / 2.0).unwrap();
        accumulator.add(&params, &second.backward().unwrap()).unwrap();
        let grads = accumulator.finish(&params).unwrap();
        assert_eq!(grads[0].to_vec1::<f32>().unwrap(), vec![3.0, 5.0]);
        assert_eq!(grads[1].to_vec1::<f32>().unwrap(), vec![0.0]);
    }
}
