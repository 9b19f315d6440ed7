//! A BERT encoder (the architecture of the sentence-transformers MiniLM family) on candle's
//! CPU tensors: embeddings, `num_hidden_layers` post-norm transformer layers, then mean pooling
//! over the real tokens and L2 normalisation — what sentence-transformers computes for
//! all-MiniLM-L6-v2.
//!
//! Written here on `candle-nn`'s layers (about 150 lines) rather than taken from
//! `candle-transformers`, whose one crate compiles every model it knows; the reference checks
//! of [`super::tests`] (cosines of known sentence pairs) prove the two agree.

use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder, embedding, layer_norm, linear};
use serde::Deserialize;

/// The model's `config.json` (the fields the encoder needs).
#[derive(Clone, Debug, Deserialize)]
pub struct BertConfig {
    /// Tokens the vocabulary holds.
    pub vocab_size: usize,
    /// The width of every hidden state (the embedding's dimension).
    pub hidden_size: usize,
    /// Transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// The feed-forward width.
    pub intermediate_size: usize,
    /// The longest input, in tokens.
    pub max_position_embeddings: usize,
    /// Segment types (2 for BERT).
    pub type_vocab_size: usize,
    /// Layer norm's epsilon.
    pub layer_norm_eps: f64,
    /// The feed-forward activation (`gelu`: the exact, erf-based one).
    #[serde(default = "gelu")]
    pub hidden_act: String,
    /// `bert` (other architectures are refused).
    #[serde(default)]
    pub model_type: Option<String>,
}

fn gelu() -> String {
    "gelu".to_owned()
}

impl BertConfig {
    /// Refuses what this encoder does not implement, naming the field.
    pub fn check(&self) -> Result<(), String> {
        if let Some(model_type) = &self.model_type
            && model_type != "bert"
        {
            return Err(format!("config.json: model_type `{model_type}` is not supported (expected `bert`)"));
        }
        if self.hidden_act != "gelu" {
            return Err(format!("config.json: hidden_act `{}` is not supported (expected `gelu`)", self.hidden_act));
        }
        if self.num_attention_heads == 0 || !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(format!(
                "config.json: hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        Ok(())
    }
}

struct Embeddings {
    words: Embedding,
    positions: Embedding,
    token_types: Embedding,
    norm: LayerNorm,
}

impl Embeddings {
    fn load(config: &BertConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            words: embedding(config.vocab_size, config.hidden_size, vb.pp("word_embeddings"))?,
            positions: embedding(config.max_position_embeddings, config.hidden_size, vb.pp("position_embeddings"))?,
            token_types: embedding(config.type_vocab_size, config.hidden_size, vb.pp("token_type_embeddings"))?,
            norm: layer_norm(config.hidden_size, config.layer_norm_eps, vb.pp("LayerNorm"))?,
        })
    }

    fn forward(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        let (_, tokens) = ids.dims2()?;
        let positions = Tensor::arange(0u32, tokens as u32, ids.device())?;
        let types = ids.zeros_like()?;
        let sum = self
            .words
            .forward(ids)?
            .broadcast_add(&self.positions.forward(&positions)?)?
            .add(&self.token_types.forward(&types)?)?;
        self.norm.forward(&sum)
    }
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
    heads: usize,
    head_size: usize,
}

impl Layer {
    fn load(config: &BertConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let hidden = config.hidden_size;
        let attention = vb.pp("attention");
        Ok(Self {
            query: linear(hidden, hidden, attention.pp("self").pp("query"))?,
            key: linear(hidden, hidden, attention.pp("self").pp("key"))?,
            value: linear(hidden, hidden, attention.pp("self").pp("value"))?,
            attention_out: linear(hidden, hidden, attention.pp("output").pp("dense"))?,
            attention_norm: layer_norm(hidden, config.layer_norm_eps, attention.pp("output").pp("LayerNorm"))?,
            intermediate: linear(hidden, config.intermediate_size, vb.pp("intermediate").pp("dense"))?,
            output: linear(config.intermediate_size, hidden, vb.pp("output").pp("dense"))?,
            output_norm: layer_norm(hidden, config.layer_norm_eps, vb.pp("output").pp("LayerNorm"))?,
            heads: config.num_attention_heads,
            head_size: hidden / config.num_attention_heads,
        })
    }

    /// `(batch, tokens, hidden)` → the same shape; `mask` is `(batch, 1, 1, tokens)`, 0 for
    /// real tokens and a large negative number for padding.
    fn forward(&self, hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, tokens, width) = hidden.dims3()?;
        let split = |projection: &Linear| -> candle_core::Result<Tensor> {
            projection
                .forward(hidden)?
                .reshape((batch, tokens, self.heads, self.head_size))?
                .transpose(1, 2)?
                .contiguous()
        };
        let (query, key, value) = (split(&self.query)?, split(&self.key)?, split(&self.value)?);
        let scale = 1.0 / (self.head_size as f64).sqrt();
        let scores = (query.matmul(&key.t()?.contiguous()?)? * scale)?.broadcast_add(mask)?;
        let weights = candle_nn::ops::softmax_last_dim(&scores)?;
        let context = weights.matmul(&value)?.transpose(1, 2)?.reshape((batch, tokens, width))?;
        let attended = self.attention_norm.forward(&self.attention_out.forward(&context)?.add(hidden)?)?;
        let expanded = self.intermediate.forward(&attended)?.gelu_erf()?;
        self.output_norm.forward(&self.output.forward(&expanded)?.add(&attended)?)
    }
}

/// The encoder with its weights loaded.
pub struct Bert {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    device: Device,
}

impl Bert {
    /// Loads the weights (names as sentence-transformers saves them, with or without a `bert.`
    /// prefix).
    pub fn load(config: &BertConfig, weights: Vec<u8>) -> candle_core::Result<Self> {
        let device = Device::Cpu;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)?;
        let vb = if vb.contains_tensor("embeddings.word_embeddings.weight") { vb } else { vb.pp("bert") };
        let embeddings = Embeddings::load(config, vb.pp("embeddings"))?;
        let layers = (0..config.num_hidden_layers)
            .map(|index| Layer::load(config, vb.pp("encoder").pp("layer").pp(index)))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self { embeddings, layers, device })
    }

    /// Sentence vectors of a batch: `ids` and `mask` hold `batch × tokens` values, row after
    /// row (padding has mask 0). Mean of the last hidden states over real tokens, L2-normalised.
    pub fn embed(&self, ids: Vec<u32>, mask: Vec<u32>, batch: usize) -> candle_core::Result<Vec<Vec<f32>>> {
        let tokens = ids.len() / batch.max(1);
        let ids = Tensor::from_vec(ids, (batch, tokens), &self.device)?;
        let mask = Tensor::from_vec(mask, (batch, tokens), &self.device)?.to_dtype(DType::F32)?;
        // 0 where there is a token, -10000 where there is padding: softmax gives padding no weight.
        let additive = ((&mask - 1.0)? * 10_000.0)?.reshape((batch, 1, 1, tokens))?;
        let mut hidden = self.embeddings.forward(&ids)?;
        for layer in &self.layers {
            hidden = layer.forward(&hidden, &additive)?;
        }
        let weights = mask.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&weights)?.sum(1)?;
        let counts = weights.sum(1)?.clamp(1e-9, f64::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norms = mean.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
        mean.broadcast_div(&norms)?.to_vec2()
    }
}
