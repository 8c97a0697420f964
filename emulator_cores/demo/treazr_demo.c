/* treazr_demo_libretro.so: Treazr's demo core, a two-player Pong that needs no ROM.
 *
 * Video: 256x240 XRGB8888 at 60 fps, handed over with a pitch of 288 pixels (the frontend must crop).
 * Audio: 48000 Hz stereo, exactly 800 frames per video frame in one batch (beeps on hits and points).
 * Input: libretro port 0 = player 1 (left paddle), port 1 = player 2 (right paddle); UP/DOWN move
 * 3 pixels a frame; otherwise the left analog stick's Y axis (RETRO_DEVICE_ANALOG) moves up to 4 pixels
 * a frame, in proportion, outside a dead zone of 4096.
 * Save RAM (RETRO_MEMORY_SAVE_RAM, 16 bytes, little-endian): "TZD1", best rally (u32), points
 * played (u32), zero (u32). A save RAM without the magic counts as empty.
 * States: retro_serialize writes the whole game state (fixed size, versioned); deterministic.
 * Option treazr_demo_fault = none|segfault|abort|hang makes the core fail on purpose at frame
 * treazr_demo_fault_frame (crash-handling tests; one of FAULT_FRAMES below); re-read on GET_VARIABLE_UPDATE.
 *
 * Option treazr_demo_video = 256x240|512x480|switching (every 120 frames, via SET_GEOMETRY; pixels
 * doubled) and treazr_demo_dupes = off|every_4th (frames 3, 7, 11 ... are handed over as NULL dupes,
 * so the picture, strip included, stays that of the frame before) exercise a frontend's video path.
 *
 * MARKER STRIP (rows 0..15, read by treazr/emulation/demo_strip.py), blocks of 8x8 pixels:
 * (in 256x240 pixels; a 512x480 frame shows it doubled, and decoders scale)
 *   rows 0..7  : 32 blocks = the frame counter (u32, most significant bit first at x = 0);
 *                a 1 bit is white (FFFFFF), a 0 bit black.
 *   rows 8..15 : blocks 0..15 = port-1 button mask (bit 15 first), a 1 bit yellow (FFFF00);
 *                blocks 16..31 = port-2 button mask (bit 15 first), a 1 bit cyan (00FFFF); 0 is black.
 * The frame counter is the number of retro_run calls before this one since power-on (0 for the
 * first frame; restored by unserialize, zeroed by reset), and the masks are the input read in this
 * frame (RETRO_DEVICE_ID_JOYPAD_MASK, libretro's joypad bit numbers). Every 1 colour has a channel
 * mean of at least 170 and every 0 is 0, so a decoder thresholding the mean of the three channels at
 * 85 reads the strip in any channel order, through lossy video.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libretro_api.h"

#define EXPORT __attribute__((visibility("default")))

#define WIDTH 256
#define HEIGHT 240
#define PITCH_PIXELS 288
#define SAMPLE_RATE 48000
#define SAMPLES_PER_FRAME 800
#define FIELD_TOP 24
#define PADDLE_H 32
#define BALL 4
#define STATE_VERSION 1

static retro_environment_t environ_cb;
static retro_video_refresh_t video_cb;
static retro_audio_sample_batch_t audio_batch_cb;
static retro_input_poll_t input_poll_cb;
static retro_input_state_t input_state_cb;
static retro_log_printf_t log_cb;

struct game {
    uint32_t version;
    uint32_t frame;
    int32_t paddle[2];
    int32_t ball_x, ball_y, vel_x, vel_y; /* 8.8 fixed point */
    uint32_t score[2];
    uint32_t rally;
    uint32_t serve_timer;
    uint32_t rng;
    uint32_t beep_period, beep_frames, beep_phase;
};

static struct game game;
static uint8_t save_ram[16];
static uint32_t framebuffer[HEIGHT * PITCH_PIXELS];
static int16_t samples[SAMPLES_PER_FRAME * 2];
static uint16_t masks[2];
static int16_t stick_y[2];
static char fault_kind[16] = "none";
static uint32_t fault_frame = 60;
static uint32_t hires_buffer[HEIGHT * 2 * WIDTH * 2];
static int video_mode;   /* 0: 256x240, 1: 512x480, 2: switching every 120 frames */
static int dupes;        /* 1: every 4th frame is handed over as a dupe (NULL) */
static int hires_shown;  /* what the frontend was last told with SET_GEOMETRY */

static const char *const FONT[10] = {"111101101101111", "010110010010111", "111001111100111", "111001111001111",
                                     "101101111001001", "111100111001111", "111100111101111", "111001001001001",
                                     "111101111101111", "111101111001111"};

static uint32_t read_u32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static void write_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static int save_ram_valid(void) { return !memcmp(save_ram, "TZD1", 4); }

static void record_point(void) {
    uint32_t best = save_ram_valid() ? read_u32(save_ram + 4) : 0;
    uint32_t played = save_ram_valid() ? read_u32(save_ram + 8) : 0;
    memcpy(save_ram, "TZD1", 4);
    write_u32(save_ram + 4, game.rally > best ? game.rally : best);
    write_u32(save_ram + 8, played + 1);
    write_u32(save_ram + 12, 0);
}

static uint32_t next_random(void) {
    game.rng = game.rng * 1103515245u + 12345u;
    return game.rng >> 16;
}

static void beep(uint32_t hz, uint32_t frames) {
    game.beep_period = SAMPLE_RATE / hz;
    game.beep_frames = frames;
    game.beep_phase = 0;
}

static void serve(int towards) {
    game.ball_x = (WIDTH / 2) << 8;
    game.ball_y = ((FIELD_TOP + HEIGHT) / 2) << 8;
    game.vel_x = towards * (384 + (int32_t)(next_random() % 128));
    game.vel_y = (int32_t)(next_random() % 512) - 256;
    game.rally = 0;
    game.serve_timer = 45;
}

static void new_game(void) {
    memset(&game, 0, sizeof game);
    game.version = STATE_VERSION;
    game.rng = 0x7472617a; /* fixed seed: the same inputs always give the same game */
    game.paddle[0] = game.paddle[1] = (FIELD_TOP + HEIGHT - PADDLE_H) / 2;
    serve(1);
}

/* ------------------------------------------------------------------ options and faults */

static const char *get_variable(const char *key) {
    struct retro_variable var = {key, NULL};
    return environ_cb(RETRO_ENVIRONMENT_GET_VARIABLE, &var) ? var.value : NULL;
}

static void read_options(void) {
    const char *kind = get_variable("treazr_demo_fault");
    const char *frame = get_variable("treazr_demo_fault_frame");
    const char *video = get_variable("treazr_demo_video");
    const char *dupe = get_variable("treazr_demo_dupes");
    video_mode = video && !strcmp(video, "512x480") ? 1 : video && !strcmp(video, "switching") ? 2 : 0;
    dupes = dupe && !strcmp(dupe, "every_4th");
    strncpy(fault_kind, kind ? kind : "none", sizeof fault_kind - 1);
    fault_frame = frame ? (uint32_t)strtoul(frame, NULL, 10) : 60;
}

static void maybe_fail(void) {
    if (game.frame != fault_frame || !strcmp(fault_kind, "none")) return;
    if (log_cb) log_cb(RETRO_LOG_WARN, "treazr demo: failing on purpose (%s) at frame %u\n", fault_kind, game.frame);
    if (!strcmp(fault_kind, "segfault")) {
        raise(SIGSEGV);
    } else if (!strcmp(fault_kind, "abort")) {
        abort();
    } else if (!strcmp(fault_kind, "hang")) {
        for (;;) sleep(1);
    }
}

/* fault frames a test may ask for: a frontend only passes on values the core declared */
static const unsigned FAULT_FRAMES[] = {60, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 20, 25, 30, 40, 45, 50, 90,
                                        100, 120, 150, 180, 200, 240, 300, 500, 600, 1000, 1200, 1800, 3600};
#define FAULT_FRAME_COUNT (sizeof FAULT_FRAMES / sizeof FAULT_FRAMES[0])

static void declare_options(retro_environment_t cb) {
    static char numbers[FAULT_FRAME_COUNT][8];
    static char legacy_frames[FAULT_FRAME_COUNT * 6 + 32];
    static struct retro_core_option_v2_definition defs[5] = {
        {"treazr_demo_fault", "Fault injection", NULL, "Make the core fail on purpose (for tests).", NULL, NULL,
         {{"none", NULL}, {"segfault", NULL}, {"abort", NULL}, {"hang", NULL}, {NULL, NULL}}, "none"},
        {"treazr_demo_fault_frame", "Fault at frame", NULL, "The frame at which the fault happens.", NULL, NULL,
         {{NULL, NULL}}, "60"},
        {"treazr_demo_video", "Video size", NULL, "512x480 doubles every pixel; switching changes size every "
         "120 frames (announced with SET_GEOMETRY).", NULL, NULL,
         {{"256x240", NULL}, {"512x480", NULL}, {"switching", NULL}, {NULL, NULL}}, "256x240"},
        {"treazr_demo_dupes", "Duplicate frames", NULL, "every_4th hands every 4th frame over as a dupe (NULL).",
         NULL, NULL, {{"off", NULL}, {"every_4th", NULL}, {NULL, NULL}}, "off"},
        {NULL, NULL, NULL, NULL, NULL, NULL, {{NULL, NULL}}, NULL},
    };
    static struct retro_core_options_v2 v2 = {NULL, defs};
    static struct retro_variable legacy[] = {
        {"treazr_demo_fault", "Fault injection; none|segfault|abort|hang"},
        {"treazr_demo_fault_frame", legacy_frames},
        {"treazr_demo_video", "Video size; 256x240|512x480|switching"},
        {"treazr_demo_dupes", "Duplicate frames; off|every_4th"},
        {NULL, NULL},
    };
    size_t used = (size_t)snprintf(legacy_frames, sizeof legacy_frames, "Fault at frame; ");
    for (size_t i = 0; i < FAULT_FRAME_COUNT; i++) {
        snprintf(numbers[i], sizeof numbers[i], "%u", FAULT_FRAMES[i]);
        defs[1].values[i].value = numbers[i];
        used += (size_t)snprintf(legacy_frames + used, sizeof legacy_frames - used, "%s%s", i ? "|" : "", numbers[i]);
    }
    unsigned version = 0;
    if (cb(RETRO_ENVIRONMENT_GET_CORE_OPTIONS_VERSION, &version) && version >= 2)
        cb(RETRO_ENVIRONMENT_SET_CORE_OPTIONS_V2, &v2);
    else
        cb(RETRO_ENVIRONMENT_SET_VARIABLES, legacy);
}

/* ------------------------------------------------------------------ drawing */

static void fill(int x, int y, int w, int h, uint32_t colour) {
    for (int row = y; row < y + h; row++) {
        if (row < 0 || row >= HEIGHT) continue;
        for (int col = x; col < x + w; col++)
            if (col >= 0 && col < WIDTH) framebuffer[row * PITCH_PIXELS + col] = colour;
    }
}

static void draw_number(uint32_t value, int right_x, int y) {
    do {
        const char *glyph = FONT[value % 10];
        right_x -= 16;
        for (int i = 0; i < 15; i++)
            if (glyph[i] == '1') fill(right_x + (i % 3) * 4, y + (i / 3) * 4, 4, 4, 0xE0E0E0);
        value /= 10;
    } while (value);
}

static void draw_strip(void) {
    for (int bit = 0; bit < 32; bit++)
        fill(bit * 8, 0, 8, 8, (game.frame >> (31 - bit)) & 1 ? 0xFFFFFF : 0);
    for (int bit = 0; bit < 16; bit++) {
        fill(bit * 8, 8, 8, 8, (masks[0] >> (15 - bit)) & 1 ? 0xFFFF00 : 0);
        fill(128 + bit * 8, 8, 8, 8, (masks[1] >> (15 - bit)) & 1 ? 0x00FFFF : 0);
    }
}

static void draw(void) {
    fill(0, 16, WIDTH, HEIGHT - 16, 0x101830);
    fill(0, FIELD_TOP - 2, WIDTH, 2, 0x808080);
    for (int y = FIELD_TOP; y < HEIGHT; y += 16) fill(WIDTH / 2 - 1, y, 2, 8, 0x404860);
    draw_number(game.score[0], WIDTH / 2 - 16, FIELD_TOP + 8);
    draw_number(game.score[1], WIDTH / 2 + 48, FIELD_TOP + 8);
    uint32_t best = save_ram_valid() ? read_u32(save_ram + 4) : 0;
    draw_number(best, WIDTH - 8, HEIGHT - 28);
    fill(8, game.paddle[0], 4, PADDLE_H, 0xF0C040);
    fill(WIDTH - 12, game.paddle[1], 4, PADDLE_H, 0x40C0F0);
    if (!game.serve_timer) fill(game.ball_x >> 8, game.ball_y >> 8, BALL, BALL, 0xFFFFFF);
    draw_strip();
}

/* ------------------------------------------------------------------ game logic */

static void read_input(void) {
    input_poll_cb();
    for (unsigned port = 0; port < 2; port++) {
        masks[port] = (uint16_t)input_state_cb(port, RETRO_DEVICE_JOYPAD, 0, RETRO_DEVICE_ID_JOYPAD_MASK);
        stick_y[port] = input_state_cb(port, RETRO_DEVICE_ANALOG, RETRO_DEVICE_INDEX_ANALOG_LEFT,
                                       RETRO_DEVICE_ID_ANALOG_Y);
    }
}

static void move_paddles(void) {
    for (int p = 0; p < 2; p++) {
        int digital = masks[p] & (1 << RETRO_DEVICE_ID_JOYPAD_UP | 1 << RETRO_DEVICE_ID_JOYPAD_DOWN);
        if (masks[p] & (1 << RETRO_DEVICE_ID_JOYPAD_UP)) game.paddle[p] -= 3;
        if (masks[p] & (1 << RETRO_DEVICE_ID_JOYPAD_DOWN)) game.paddle[p] += 3;
        /* a browser also turns a tilted stick into UP/DOWN for digital games: the stick counts alone */
        if (!digital && (stick_y[p] > 4096 || stick_y[p] < -4096)) game.paddle[p] += stick_y[p] * 4 / 32767;
        if (game.paddle[p] < FIELD_TOP) game.paddle[p] = FIELD_TOP;
        if (game.paddle[p] > HEIGHT - PADDLE_H) game.paddle[p] = HEIGHT - PADDLE_H;
    }
}

static void bounce_off_paddle(int p, int paddle_x) {
    int by = game.ball_y >> 8;
    if (by + BALL < game.paddle[p] || by > game.paddle[p] + PADDLE_H) return;
    game.vel_x = -game.vel_x + (game.vel_x > 0 ? -16 : 16);
    game.vel_y += ((by + BALL / 2) - (game.paddle[p] + PADDLE_H / 2)) * 12;
    game.ball_x = paddle_x << 8;
    game.rally++;
    beep(880, 4);
}

static void move_ball(void) {
    if (game.serve_timer) {
        game.serve_timer--;
        return;
    }
    game.ball_x += game.vel_x;
    game.ball_y += game.vel_y;
    if (game.ball_y < FIELD_TOP << 8 || game.ball_y > (HEIGHT - BALL) << 8) {
        game.vel_y = -game.vel_y;
        game.ball_y = game.ball_y < FIELD_TOP << 8 ? FIELD_TOP << 8 : (HEIGHT - BALL) << 8;
        beep(440, 3);
    }
    int bx = game.ball_x >> 8;
    if (game.vel_x < 0 && bx <= 12 && bx >= 4) bounce_off_paddle(0, 13);
    if (game.vel_x > 0 && bx + BALL >= WIDTH - 12 && bx + BALL <= WIDTH - 4) bounce_off_paddle(1, WIDTH - 13 - BALL);
    if (bx < 0 || bx > WIDTH) {
        int scorer = bx < 0 ? 1 : 0;
        game.score[scorer]++;
        record_point();
        beep(220, 12);
        serve(scorer ? 1 : -1);
    }
}

static void render_audio(void) {
    for (int i = 0; i < SAMPLES_PER_FRAME; i++) {
        int16_t v = 0;
        if (game.beep_frames) {
            v = (game.beep_phase++ % game.beep_period) < game.beep_period / 2 ? 3000 : -3000;
        }
        samples[2 * i] = samples[2 * i + 1] = v;
    }
    if (game.beep_frames) game.beep_frames--;
    audio_batch_cb(samples, SAMPLES_PER_FRAME);
}

static void present(void) {
    if (dupes && game.frame % 4 == 3) {
        video_cb(NULL, WIDTH, HEIGHT, 0);
        return;
    }
    int hires = video_mode == 1 || (video_mode == 2 && (game.frame / 120) % 2 == 1);
    if (hires != hires_shown) {
        struct retro_game_geometry geometry = {WIDTH << hires, HEIGHT << hires, WIDTH * 2, HEIGHT * 2, 4.0f / 3.0f};
        environ_cb(RETRO_ENVIRONMENT_SET_GEOMETRY, &geometry);
        hires_shown = hires;
    }
    if (!hires) {
        video_cb(framebuffer, WIDTH, HEIGHT, PITCH_PIXELS * sizeof(uint32_t));
        return;
    }
    for (int y = 0; y < HEIGHT * 2; y++)
        for (int x = 0; x < WIDTH * 2; x++) hires_buffer[y * WIDTH * 2 + x] = framebuffer[(y / 2) * PITCH_PIXELS + x / 2];
    video_cb(hires_buffer, WIDTH * 2, HEIGHT * 2, WIDTH * 2 * sizeof(uint32_t));
}

/* ------------------------------------------------------------------ libretro API */

EXPORT unsigned retro_api_version(void) { return RETRO_API_VERSION; }

EXPORT void retro_set_environment(retro_environment_t cb) {
    static const struct retro_controller_description pads[] = {{"Joypad", RETRO_DEVICE_JOYPAD}};
    static const struct retro_controller_info ports[] = {{pads, 1}, {pads, 1}, {pads, 1}, {pads, 1}, {NULL, 0}};
    bool no_game = true;
    environ_cb = cb;
    cb(RETRO_ENVIRONMENT_SET_SUPPORT_NO_GAME, &no_game);
    cb(RETRO_ENVIRONMENT_SET_CONTROLLER_INFO, (void *)ports);
    declare_options(cb);
}

EXPORT void retro_set_video_refresh(retro_video_refresh_t cb) { video_cb = cb; }
EXPORT void retro_set_audio_sample(retro_audio_sample_t cb) { (void)cb; }
EXPORT void retro_set_audio_sample_batch(retro_audio_sample_batch_t cb) { audio_batch_cb = cb; }
EXPORT void retro_set_input_poll(retro_input_poll_t cb) { input_poll_cb = cb; }
EXPORT void retro_set_input_state(retro_input_state_t cb) { input_state_cb = cb; }
EXPORT void retro_set_controller_port_device(unsigned port, unsigned device) { (void)port, (void)device; }

EXPORT void retro_init(void) {
    struct retro_log_callback logging;
    log_cb = environ_cb(RETRO_ENVIRONMENT_GET_LOG_INTERFACE, &logging) ? logging.log : NULL;
}

EXPORT void retro_deinit(void) {}

EXPORT void retro_get_system_info(struct retro_system_info *info) {
    memset(info, 0, sizeof *info);
    info->library_name = "Treazr Demo";
    info->library_version = "1.0";
    info->valid_extensions = "";
}

EXPORT void retro_get_system_av_info(struct retro_system_av_info *info) {
    int hires = video_mode == 1;
    info->geometry = (struct retro_game_geometry){WIDTH << hires, HEIGHT << hires, WIDTH * 2, HEIGHT * 2, 4.0f / 3.0f};
    info->timing = (struct retro_system_timing){60.0, SAMPLE_RATE};
}

EXPORT bool retro_load_game(const struct retro_game_info *info) {
    (void)info; /* the game is built in: any content is ignored */
    enum retro_pixel_format format = RETRO_PIXEL_FORMAT_XRGB8888;
    if (!environ_cb(RETRO_ENVIRONMENT_SET_PIXEL_FORMAT, &format)) return false;
    memset(save_ram, 0, sizeof save_ram);
    memset(framebuffer, 0, sizeof framebuffer);
    read_options();
    hires_shown = video_mode == 1;
    new_game();
    return true;
}

EXPORT bool retro_load_game_special(unsigned type, const struct retro_game_info *info, size_t n) {
    (void)type, (void)info, (void)n;
    return false;
}

EXPORT void retro_unload_game(void) {}
EXPORT void retro_reset(void) { new_game(); }
EXPORT unsigned retro_get_region(void) { return RETRO_REGION_NTSC; }

EXPORT void retro_run(void) {
    bool updated = false;
    if (environ_cb(RETRO_ENVIRONMENT_GET_VARIABLE_UPDATE, &updated) && updated) read_options();
    maybe_fail();
    read_input();
    move_paddles();
    move_ball();
    draw();
    present();
    render_audio();
    game.frame++;
}

EXPORT size_t retro_serialize_size(void) { return sizeof game; }

EXPORT bool retro_serialize(void *data, size_t size) {
    if (size < sizeof game) return false;
    memcpy(data, &game, sizeof game);
    return true;
}

EXPORT bool retro_unserialize(const void *data, size_t size) {
    struct game loaded;
    if (size != sizeof game) return false;
    memcpy(&loaded, data, sizeof loaded);
    if (loaded.version != STATE_VERSION) return false;
    if (loaded.beep_frames && !loaded.beep_period) return false; /* would divide by zero */
    game = loaded;
    return true;
}

EXPORT void *retro_get_memory_data(unsigned id) { return id == RETRO_MEMORY_SAVE_RAM ? save_ram : NULL; }
EXPORT size_t retro_get_memory_size(unsigned id) { return id == RETRO_MEMORY_SAVE_RAM ? sizeof save_ram : 0; }
EXPORT void retro_cheat_reset(void) {}
EXPORT void retro_cheat_set(unsigned index, bool enabled, const char *code) { (void)index, (void)enabled, (void)code; }
