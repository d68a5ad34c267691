//! A tiny random Llama model directory, as `recode-train merge` writes one:
//! a byte-level tokenizer, a 2-layer model with deterministic weights and a
//! 512-token context. It generates nonsense, fast, through the real
//! embedded backend.

use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};

/// GPT-2's byte-to-character table of byte-level BPE.
fn byte_level_alphabet() -> Vec<char> {
    let mut printable: Vec<u32> = (b'!' as u32..=b'~' as u32).chain(0xA1..=0xAC).chain(0xAE..=0xFF).collect();
    let mut chars: Vec<u32> = printable.clone();
    let mut n = 0;
    for b in 0..256u32 {
        if !printable.contains(&b) {
            printable.push(b);
            chars.push(256 + n);
            n += 1;
        }
    }
    let mut table = vec![' '; 256];
    for (b, c) in printable.iter().zip(chars) {
        table[*b as usize] = char::from_u32(c).unwrap();
    }
    table
}

fn write_safetensors(path: &Path, tensors: &[(String, Vec<usize>, Vec<f32>)]) {
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (name, shape, data) in tensors {
        let end = offset + data.len() * 4;
        header.insert(name.clone(), json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, end]}));
        offset = end;
    }
    let mut header = serde_json::to_vec(&Value::Object(header)).unwrap();
    while header.len() % 8 != 0 {
        header.push(b' ');
    }
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    file.write_all(&(header.len() as u64).to_le_bytes()).unwrap();
    file.write_all(&header).unwrap();
    for (_, _, data) in tensors {
        for v in data {
            file.write_all(&v.to_le_bytes()).unwrap();
        }
    }
}

pub fn tiny_model_dir(dir: &Path) {
    let alphabet = byte_level_alphabet();
    let mut vocab = serde_json::Map::new();
    for (i, c) in alphabet.iter().enumerate() {
        vocab.insert(c.to_string(), json!(i));
    }
    let specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
    for (i, s) in specials.iter().enumerate() {
        vocab.insert(s.to_string(), json!(256 + i));
    }
    let vocab_size = 256 + specials.len();
    let tokenizer = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": specials.iter().enumerate().map(|(i, s)| json!({
            "id": 256 + i, "content": s, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true
        })).collect::<Vec<_>>(),
        "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": true},
        "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "vocab": vocab, "merges": []}
    });
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string()).unwrap();
    let (hidden, intermediate, layers, heads, kv_heads) = (64usize, 128usize, 2usize, 4usize, 2usize);
    let head_dim = hidden / heads;
    let config = json!({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": hidden, "intermediate_size": intermediate, "num_hidden_layers": layers,
        "num_attention_heads": heads, "num_key_value_heads": kv_heads, "vocab_size": vocab_size,
        "max_position_embeddings": 512, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "hidden_act": "silu", "tie_word_embeddings": true, "torch_dtype": "float32",
        "bos_token_id": 257, "eos_token_id": 258
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    // Deterministic pseudo-random weights.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut random = |n: usize, scale: f32| -> Vec<f32> {
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0 * scale
            })
            .collect()
    };
    let mut tensors = vec![("model.embed_tokens.weight".to_string(), vec![vocab_size, hidden], random(vocab_size * hidden, 0.5))];
    for i in 0..layers {
        let p = format!("model.layers.{i}");
        let w = |name: &str, out: usize, inp: usize, random: &mut dyn FnMut(usize, f32) -> Vec<f32>| {
            (format!("{p}.{name}.weight"), vec![out, inp], random(out * inp, 0.2))
        };
        tensors.push(w("self_attn.q_proj", heads * head_dim, hidden, &mut random));
        tensors.push(w("self_attn.k_proj", kv_heads * head_dim, hidden, &mut random));
        tensors.push(w("self_attn.v_proj", kv_heads * head_dim, hidden, &mut random));
        tensors.push(w("self_attn.o_proj", hidden, heads * head_dim, &mut random));
        tensors.push(w("mlp.gate_proj", intermediate, hidden, &mut random));
        tensors.push(w("mlp.up_proj", intermediate, hidden, &mut random));
        tensors.push(w("mlp.down_proj", hidden, intermediate, &mut random));
        tensors.push((format!("{p}.input_layernorm.weight"), vec![hidden], vec![1.0; hidden]));
        tensors.push((format!("{p}.post_attention_layernorm.weight"), vec![hidden], vec![1.0; hidden]));
    }
    tensors.push(("model.norm.weight".to_string(), vec![hidden], vec![1.0; hidden]));
    write_safetensors(&dir.join("model.safetensors"), &tensors);
}
