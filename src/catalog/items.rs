//! What `check-items` and `run` say about a prize list they cannot use,
//! with the hints (`write 0.05 for 5 %`, `use a dot: 0.05`). English is the
//! error's own `Display`, so logs and messages say the same; Portuguese is
//! written here from the same typed error.

use super::{Message, Texts};
use crate::raffle::items::{ItemProblem, ItemsError, MAX_ITEMS, MAX_NAME_CHARS, ProbabilityError, SyntaxHint};

/// A prize-list error, for the streamer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ItemsText<'a>(pub(crate) &'a ItemsError);

fn linha_prefix(line: Option<usize>) -> String {
    line.map_or_else(|| " ".to_owned(), |l| format!(" linha {l}: "))
}

fn linha_suffix(line: Option<usize>) -> String {
    line.map_or_else(String::new, |l| format!(" (linha {l})"))
}

fn dica(hint: &SyntaxHint) -> String {
    match hint {
        SyntaxHint::DecimalComma { fraction } => format!("use ponto: {fraction}"),
        SyntaxHint::Percent { written, fraction } => format!("escreva {fraction} para {written}"),
    }
}

fn problema(problem: &ItemProblem) -> String {
    match problem {
        ItemProblem::Probability(ProbabilityError::OutOfRange(value)) => {
            format!("probabilidade {value:?} não está em (0, 1]")
        }
        ItemProblem::Probability(ProbabilityError::Percentage { value, fraction }) => {
            format!("probabilidade {value:?} não está em (0, 1]; escreva {fraction} para {value} %")
        }
        ItemProblem::ProbabilityNotNumber(got) => format!("probabilidade precisa ser um número, veio {got}"),
        ItemProblem::ProbabilityQuoted { written, fraction } => {
            format!("probabilidade precisa ser um número, veio o texto {written:?}; escreva {fraction} (sem aspas)")
        }
        ItemProblem::EmptyName => "o nome está vazio".to_owned(),
        ItemProblem::NameTooLong(chars) => {
            format!("o nome tem {chars} caracteres, no máximo {MAX_NAME_CHARS} são permitidos")
        }
        ItemProblem::ControlCharacter { position, character } => format!(
            "o nome tem o caractere de controle U+{:04X} na posição {position}",
            u32::from(*character)
        ),
        ItemProblem::DuplicateName {
            first_index,
            first_name,
        } => format!("nome repetido (igual ao item {first_index} \"{first_name}\")"),
        ItemProblem::BadStock(got) => format!("stock precisa ser um número inteiro de 0 a 2147483647, veio {got}"),
    }
}

impl Message for ItemsText<'_> {
    fn texts(&self) -> Texts {
        let pt_br = match self.0 {
            ItemsError::Read { path, source } => {
                format!("{path}: não foi possível ler a lista de prêmios: {source}")
            }
            ItemsError::Syntax {
                path,
                line,
                message,
                hint,
            } => format!(
                "{path}:{}{message}{}",
                linha_prefix(*line),
                hint.as_ref()
                    .map_or_else(String::new, |hint| format!("; {}", dica(hint)))
            ),
            ItemsError::Invalid {
                path,
                index,
                name,
                line,
                reason,
            } => format!(
                "{path}: item {index} {name:?}{}: {}",
                linha_suffix(*line),
                problema(reason)
            ),
            ItemsError::SumTooLarge { path, sum } => {
                format!("{path}: as probabilidades somam {sum}, mais que 1")
            }
            ItemsError::Empty { path } => {
                format!("{path}: nenhum item definido (é preciso pelo menos uma entrada [[items]])")
            }
            ItemsError::TooMany { path, count } => {
                format!("{path}: {count} itens definidos, no máximo {MAX_ITEMS} são permitidos")
            }
        };
        Texts {
            en: self.0.to_string().into(),
            pt_br: pt_br.into(),
        }
    }
}

#[cfg(test)]
pub(super) fn samples() -> Vec<ItemsText<'static>> {
    use crate::raffle::items::ItemsFile;
    let files = [
        "[[items]]\nname = \"A\"\nprobability = 5\n",
        "[[items]]\nname = \"A\"\nprobability = 0,05\n",
        "[[items]]\nname = \"A\"\nprobability = 5%\n",
        "[[items]]\nname = \"A\"\nprobability = \"5%\"\n",
        "[[items]]\nname = \"A\"\nprobability = \"x\"\n",
        "[[items]]\nname = \"A\"\nprobability = 0\n",
        "[[items]]\nname = \" \"\nprobability = 0.1\n",
        "[[items]]\nname = \"A\"\nprobability = 0.1\n[[items]]\nname = \"a\"\nprobability = 0.1\n",
        "[[items]]\nname = \"A\"\nprobability = 0.1\nstock = -1\n",
        "[[items]]\nname = \"A\\u0007\"\nprobability = 0.1\n",
        "[[items]]\nname = \"A\"\nprobability = 0.6\n[[items]]\nname = \"B\"\nprobability = 0.6\n",
        "",
    ];
    let mut errors: Vec<ItemsError> = files
        .iter()
        .filter_map(|text| ItemsFile::parse("items.toml", text).err())
        .collect();
    errors.push(ItemsError::Read {
        path: "items.toml".into(),
        source: std::io::Error::other("gone"),
    });
    errors.push(ItemsError::TooMany {
        path: "items.toml".into(),
        count: 1001,
    });
    assert_eq!(errors.len(), files.len() + 2, "every sample file is an error");
    errors
        .into_iter()
        .map(|error| ItemsText(Box::leak(Box::new(error))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Language;
    use crate::raffle::items::ItemsFile;

    fn both(text: &str) -> (String, String) {
        let error = ItemsFile::parse("items.toml", text).expect_err("an error");
        let message = ItemsText(&error);
        (Language::En.say(&message), Language::PtBr.say(&message))
    }

    #[test]
    fn the_hints_are_given_in_both_languages() {
        let (en, pt) = both("[[items]]\nname = \"A\"\nprobability = 5\n");
        assert!(en.ends_with("write 0.05 for 5 %"), "{en}");
        assert_eq!(
            pt,
            "items.toml: item 1 \"A\" (linha 1): probabilidade 5.0 não está em (0, 1]; escreva 0.05 para 5 %"
        );
        let (en, pt) = both("[[items]]\nname = \"A\"\nprobability = 0,05\n");
        assert!(en.ends_with("; use a dot: 0.05"), "{en}");
        assert!(
            pt.starts_with("items.toml: linha 3: ") && pt.ends_with("; use ponto: 0.05"),
            "{pt}"
        );
    }

    #[test]
    fn english_is_the_errors_own_message() {
        let error = ItemsFile::parse("items.toml", "").expect_err("an error");
        assert_eq!(Language::En.say(&ItemsText(&error)), error.to_string());
    }
}
