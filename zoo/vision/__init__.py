"""Vision models and parts shared by systems.

* `recognition`, `ar_decoder`: text recognizers that read a line image into
  tokens (vocabulary, visual encoder, sequence loss; the autoregressive
  recognizer CPPD, `zoo.decoding.cppd`, is compared with);
* `vit`: patches and a ViT of zoo `Block`s (Vec2Face's generator);
* `faces`: the toy face-recognition (ArcFace) and yaw networks;
* `masked_decoder`, `mask_sets`: X-Decoder's pixel encoder and decoder,
  masked cross-attention, and the Hungarian-matched mask set loss.
"""
