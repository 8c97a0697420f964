/* BGRX frames to the encoder's YUV planes (full-range BT.601, 8-bit fixed point), in one pass.
 *
 * The integer arithmetic (tests/emulation/test_encoder.py checks it against these formulas):
 *   Y  = (77 R + 150 G + 29 B + 128) >> 8
 *   Cb = (128 B - 43 R - 85 G + 32895) >> 8
 *   Cr = (128 R - 107 G - 21 B + 32895) >> 8
 * With scale 2 (the 4:2:0 path) each luma sample fills a 2x2 block of a plane twice the size, so the
 * upscaled picture's chroma is exactly the source-sized Cb/Cr planes: no colour bleeds across pixels.
 */
#include <stdint.h>

#define EXPORT __attribute__((visibility("default")))

EXPORT void tzf_bgrx_to_yuv(const uint8_t *src, int width, int height, int src_stride,
                            uint8_t *y, int y_stride, uint8_t *u, int u_stride, uint8_t *v, int v_stride,
                            int scale) {
    for (int row = 0; row < height; row++) {
        const uint8_t *p = src + (long)row * src_stride;
        uint8_t *cb = u + (long)row * u_stride, *cr = v + (long)row * v_stride;
        uint8_t *luma = y + (long)row * scale * y_stride;
        for (int col = 0; col < width; col++, p += 4) {
            unsigned b = p[0], g = p[1], r = p[2];
            uint8_t yy = (uint8_t)((77 * r + 150 * g + 29 * b + 128) >> 8);
            cb[col] = (uint8_t)((128 * b - 43 * r - 85 * g + 32895) >> 8);
            cr[col] = (uint8_t)((128 * r - 107 * g - 21 * b + 32895) >> 8);
            if (scale == 1) {
                luma[col] = yy;
            } else {
                luma[2 * col] = luma[2 * col + 1] = yy;
                luma[y_stride + 2 * col] = luma[y_stride + 2 * col + 1] = yy;
            }
        }
    }
}
