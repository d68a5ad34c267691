//! Library names as the vocabulary speaks them.

use pep508_rs::PackageName;

use super::VocabError;

/// Names people write for a library that are not its PyPI distribution name
/// (after PEP 503 normalisation), and the name they mean.
const ALIASES: &[(&str, &str)] = &[("pytorch", "torch"), ("sklearn", "scikit-learn")];

/// The canonical name of a library: its PyPI distribution name, PEP 503
/// normalised (`Numpy` → `numpy`, `scikit_learn` → `scikit-learn`), with the
/// common import-name or brand aliases resolved (`PyTorch` → `torch`,
/// `sklearn` → `scikit-learn`). This is the name the catalog uses, so a prompt
/// reads the same whether the server or the trainer wrote it.
pub fn canonical_library(name: &str) -> Result<String, VocabError> {
    let normalised = PackageName::new(name.trim().to_owned())
        .map_err(|source| VocabError::InvalidLibraryName { name: name.to_owned(), source })?;
    let normalised = normalised.as_ref();
    Ok(ALIASES.iter().find(|(alias, _)| *alias == normalised).map_or(normalised, |(_, canonical)| canonical).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_spellings_become_distribution_names() {
        for (written, canonical) in [
            ("Numpy", "numpy"),
            ("pandas", "pandas"),
            ("Pandas", "pandas"),
            ("PyTorch", "torch"),
            ("SciPy", "scipy"),
            ("scikit-learn", "scikit-learn"),
            ("scikit_learn", "scikit-learn"),
            ("sklearn", "scikit-learn"),
            ("Matplotlib", "matplotlib"),
            ("Seaborn", "seaborn"),
            ("seaborn", "seaborn"),
            ("JAX", "jax"),
            (" Scrapy ", "scrapy"),
        ] {
            assert_eq!(canonical_library(written).unwrap(), canonical, "{written}");
        }
    }

    #[test]
    fn a_name_that_is_no_package_name_is_an_error() {
        let err = canonical_library("not a name").unwrap_err();
        assert!(err.to_string().contains("`not a name`"), "{err}");
    }
}
