"""Reserved token ids shared by every tokenizer and LM in the zoo.

The BPE tokenizers of the LM datasets put these four first, so a model
trained on any of them can use the ids directly: padding, sequence start and
end, and the placeholder that masked-diffusion LMs and look-ahead decoders
(LUD) read as "unknown token here".
"""

PAD = 0
BOS = 1
EOS = 2
MASK = 3
NAMES = ("<pad>", "<bos>", "<eos>", "<mask>")
