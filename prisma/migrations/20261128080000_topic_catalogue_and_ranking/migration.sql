-- How well a paper matches a full-text query: cover density over the weighted search vector, counting a
-- hit in the title (A) 1.0, in the keywords (B) 0.6, in the abstract (C) 0.2.
CREATE FUNCTION "paper_relevance"(search tsvector, query tsquery) RETURNS real
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT ts_rank_cd('{0, 0.2, 0.6, 1.0}'::real[], search, query) $$;

-- Whether a paper belongs to a topic (or to a reader's own keywords): relevance 0.3 or more, that is the
-- query matches its title or keywords, or its abstract at least twice. One mention in passing
-- ("… unlike large language models …") is not enough.
CREATE FUNCTION "paper_matches"(search tsvector, query tsquery) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT search @@ query AND paper_relevance(search, query) >= 0.3 $$;

-- The one ranking used wherever papers are listed or sent (documented in src/modules/papers/ranking.ts):
--   (1 + ln(1 + upvotes)) × (0.5 + min(relevance, 2) / 4) × 0.5 ^ (hours since listing / 24)
-- Popularity counts logarithmically, relevance can at most double a score, and a day halves it.
CREATE FUNCTION "paper_rank"(relevance real, upvotes integer, listed_at timestamptz, at timestamptz)
    RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    -- In float8 throughout (extract() is numeric), with the age capped at ~3 years: past that the factor
    -- is 0 either way, and 0.5^days for older papers would underflow.
    AS $$
      SELECT (1 + ln(1 + greatest(upvotes, 0)::float8))
           * (0.5 + least(greatest(relevance, 0), 2)::float8 / 4)
           * power(0.5::float8, least(greatest(extract(epoch FROM (at - listed_at))::float8, 0) / 86400, 1000))
    $$;

-- The curated topic catalogue readers choose from. Queries use websearch_to_tsquery syntax: "phrases",
-- OR, and -exclusions; the English stemmer handles plurals and inflections.
INSERT INTO "topic" ("slug", "name", "description", "query", "updated_at") VALUES
('test-time-adaptation', 'Test-time adaptation',
 'Adapting a trained model to new data while it is in use, without labels.',
 '"test-time adaptation" OR "test time adaptation" OR "test-time training" OR "test time training" OR "test-time adaptive" OR TTA OR "source-free domain adaptation" OR "adapting to domain shift" OR "adapting to distribution shift" OR "adaptation to distribution shift"',
 CURRENT_TIMESTAMP),
('model-merging', 'Model merging',
 'Combining the weights of trained models into one: merging, model soups, task arithmetic.',
 '"model merging" OR "merging models" OR "merge models" OR "merged model" OR "model soups" OR "weight averaging" OR "task arithmetic" OR "task vectors" OR "model fusion" OR "weight interpolation"',
 CURRENT_TIMESTAMP),
('parameter-efficient-fine-tuning', 'Parameter-efficient fine-tuning',
 'Fine-tuning large models by training only a few parameters: LoRA, adapters, prompt and prefix tuning.',
 '"parameter-efficient" OR "parameter efficient" OR PEFT OR LoRA OR QLoRA OR "low-rank adaptation" OR "adapter tuning" OR "adapter modules" OR "adapter layers" OR "adapter-based" OR "prompt tuning" OR "prefix tuning" OR "prompt learning" OR "soft prompts" OR "sparse fine-tuning"',
 CURRENT_TIMESTAMP),
('continual-learning', 'Continual learning',
 'Learning from a stream of tasks or data without forgetting what came before.',
 '"continual learning" OR "lifelong learning" OR "incremental learning" OR "class-incremental" OR "task-incremental" OR "domain-incremental" OR "catastrophic forgetting" OR "never-ending" OR "continual test-time adaptation"',
 CURRENT_TIMESTAMP),
('domain-adaptation', 'Domain adaptation & OOD generalisation',
 'Models that keep working when the data shifts away from what they were trained on.',
 '"domain adaptation" OR "domain generalization" OR "domain generalisation" OR "out-of-distribution" OR OOD OR "distribution shift" OR "distribution shifts" OR "domain shift" OR "covariate shift" OR "spurious correlation" OR "spurious correlations"',
 CURRENT_TIMESTAMP),
('large-language-models', 'Large language models',
 'Training, evaluating, aligning and using LLMs such as GPT, Llama and their kin.',
 '"large language model" OR "large language models" OR "large-language model" OR LLM OR LLMs OR GPT OR ChatGPT OR "language model" -"vision-language"',
 CURRENT_TIMESTAMP),
('computer-vision', 'Computer vision',
 'Understanding and generating images and video: recognition, detection, segmentation, 3D.',
 '"computer vision" OR "image classification" OR "object detection" OR "semantic segmentation" OR "instance segmentation" OR "image segmentation" OR "image generation" OR "video generation" OR "text-to-image" OR "vision transformer" OR ViT OR "visual recognition" OR "pose estimation" OR "depth estimation" OR "3D reconstruction" OR "optical flow" OR "image restoration" OR "super-resolution" OR "video understanding"',
 CURRENT_TIMESTAMP),
('speech-audio', 'Speech & audio',
 'Recognising, synthesising and understanding speech, music and sound.',
 'speech OR "automatic speech recognition" OR ASR OR "text-to-speech" OR "speech synthesis" OR "speaker verification" OR "voice conversion" OR "spoken language" OR audio OR "music generation" OR "sound event"',
 CURRENT_TIMESTAMP),
('reinforcement-learning', 'Reinforcement learning',
 'Agents that learn from rewards: policy optimisation, RLHF, bandits, offline RL.',
 '"reinforcement learning" OR RL OR RLHF OR "policy optimization" OR "policy optimisation" OR "policy gradient" OR "Q-learning" OR "reward model" OR "Markov decision process" OR MDP OR bandit OR bandits OR "offline RL" OR PPO OR GRPO',
 CURRENT_TIMESTAMP),
('natural-language-processing', 'Natural language processing',
 'Working with text: translation, question answering, summarisation, information extraction.',
 '"natural language processing" OR NLP OR "machine translation" OR "question answering" OR "named entity recognition" OR "sentiment analysis" OR "text classification" OR summarization OR summarisation OR "cross-lingual" OR multilingual OR "language understanding" OR "dependency parsing" OR "information extraction"',
 CURRENT_TIMESTAMP);

-- Match the papers already stored against the new catalogue.
INSERT INTO "paper_topic" ("paper_id", "topic_id", "score")
SELECT p."id", t."id", paper_relevance(p."search", t.q)
  FROM "paper" p
  JOIN (SELECT "id", websearch_to_tsquery('english', "query") AS q FROM "topic") t ON paper_matches(p."search", t.q);
