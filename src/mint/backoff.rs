//! [`Backoff`]: the one exponential backoff of the crate (the CodeSignal client's retries, the
//! ledger's waits for a busy SQLite file and for another worker's intent). The pacer, which
//! spaces request starts evenly, is another thing and stays apart.

use std::time::Duration;

/// How a pause is drawn around the current step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Jitter {
    /// Anywhere from nothing to the step ("full jitter"): many clients retrying one server
    /// spread out instead of coming back together.
    Full,
    /// From the step to twice it: never shorter than the step, still spread.
    UpToDouble,
}

/// Pauses that double from `first` up to `max`, each drawn as `jitter` says.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    step: Duration,
    max: Duration,
    jitter: Jitter,
}

impl Backoff {
    pub(crate) fn new(first: Duration, max: Duration, jitter: Jitter) -> Backoff {
        Backoff {
            step: first.min(max),
            max,
            jitter,
        }
    }

    /// The next pause; the step doubles (up to `max`) for the one after.
    pub(crate) fn next_pause(&mut self) -> Duration {
        let step = self.step;
        self.step = self.step.saturating_mul(2).min(self.max);
        match self.jitter {
            Jitter::Full => step.mul_f64(fastrand::f64()),
            Jitter::UpToDouble => step + step.mul_f64(fastrand::f64()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_double_up_to_the_ceiling_and_jitter_stays_in_its_band() {
        let ms = Duration::from_millis;
        let mut polls = Backoff::new(ms(50), ms(1000), Jitter::UpToDouble);
        for step in [50, 100, 200, 400, 800, 1000, 1000] {
            let p = polls.next_pause();
            assert!(p >= ms(step) && p <= ms(2 * step), "{p:?} for {step} ms");
        }
        let mut full = Backoff::new(ms(10), ms(40), Jitter::Full);
        let mut double = Backoff::new(ms(10), ms(40), Jitter::UpToDouble);
        for step in [10, 20, 40, 40] {
            assert!(full.next_pause() <= ms(step));
            let p = double.next_pause();
            assert!(p >= ms(step) && p <= ms(2 * step), "{p:?}");
        }
    }
}
