/* libtreazr_frontend.so: the hot half of Treazr's libretro frontend.
 *
 * Python (treazr/emulation/libretro.py) drives a core through these tzf_* functions; every callback
 * a core makes per frame (video, audio, input, environment) is answered here in C, so a frame costs
 * Python one ctypes call (or one per batch of frames). libretro callbacks carry no user pointer, and
 * cores keep global state anyway, so there is one frontend per process: the state below is global.
 *
 * Errors: functions return 0 on success and a negative code on failure, with a message readable via
 * tzf_last_error(); Python turns that into CoreError in one place (libretro.err_check).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libretro_api.h"

#define TZF_MAX_PORTS 8
#define TZF_MAX_OPTIONS 512
#define TZF_LOG_SLOTS 256
#define TZF_LOG_LEN 480

#define EXPORT __attribute__((visibility("default")))
#define TZF_RUN_SHUTDOWN 1
#define TZF_RUN_LOGS 2

typedef struct {
    char *key;
    char *default_value;
    char *values; /* '|'-joined */
    char *desc;
} tzf_option;

typedef struct {
    char *key;
    char *value;
    int warned;
} tzf_override;

typedef struct {
    int level;
    char text[TZF_LOG_LEN];
} tzf_log_entry;

typedef struct {
    void *handle;
    void (*init)(void);
    void (*deinit)(void);
    unsigned (*api_version)(void);
    void (*get_system_info)(struct retro_system_info *);
    void (*get_system_av_info)(struct retro_system_av_info *);
    void (*set_environment)(retro_environment_t);
    void (*set_video_refresh)(retro_video_refresh_t);
    void (*set_audio_sample)(retro_audio_sample_t);
    void (*set_audio_sample_batch)(retro_audio_sample_batch_t);
    void (*set_input_poll)(retro_input_poll_t);
    void (*set_input_state)(retro_input_state_t);
    void (*set_controller_port_device)(unsigned, unsigned);
    void (*reset)(void);
    void (*run)(void);
    size_t (*serialize_size)(void);
    bool (*serialize)(void *, size_t);
    bool (*unserialize)(const void *, size_t);
    bool (*load_game)(const struct retro_game_info *);
    void (*unload_game)(void);
    void *(*get_memory_data)(unsigned);
    size_t (*get_memory_size)(unsigned);
} tzf_core;

static tzf_core core;
static int initialised, game_loaded;
static char last_error[512];
static char *core_path, *system_dir, *save_dir;

/* video: the last frame, packed BGRX (4 bytes per pixel, no padding) */
static uint8_t *frame, *raw_frame; /* raw_frame: the last 16-bit frame, packed, not yet converted */
static size_t frame_capacity, raw_capacity;
static unsigned frame_width, frame_height;
static int frame_pending;
static int pixel_format = RETRO_PIXEL_FORMAT_0RGB1555;
static uint64_t frames_run, frames_duped;

/* audio: interleaved stereo int16, grown as needed, emptied by tzf_audio_take */
static int16_t *audio;
static size_t audio_frames, audio_capacity;

static uint16_t input_masks[TZF_MAX_PORTS];
/* left stick x, y, right stick x, y per port: libretro's -0x8000..0x7fff, +y pointing down */
static int16_t input_axes[TZF_MAX_PORTS][4];
static uint64_t input_polls, input_queries;

static struct retro_system_av_info av_info;
static int av_info_serial; /* bumped whenever the core changes geometry or timing */

static tzf_option options[TZF_MAX_OPTIONS];
static int option_count;
static tzf_override overrides[TZF_MAX_OPTIONS];
static int override_count;
static int variables_updated;
static char options_source[24] = "none";

static int supports_no_game, shutdown_requested, serialization_quirks;
static unsigned controller_ports;

static tzf_log_entry log_ring[TZF_LOG_SLOTS];
static unsigned log_head, log_tail; /* head: next write, tail: next read; both grow monotonically */
static unsigned log_dropped;
static uint8_t unknown_seen[0x400]; /* one bit per command id (low 13 bits), for "logged once" */

static void set_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static void push_log(int level, const char *fmt, va_list ap) {
    if (log_head - log_tail >= TZF_LOG_SLOTS) {
        log_dropped++;
        return;
    }
    tzf_log_entry *entry = &log_ring[log_head % TZF_LOG_SLOTS];
    entry->level = level;
    vsnprintf(entry->text, TZF_LOG_LEN, fmt, ap);
    size_t n = strlen(entry->text);
    while (n && (entry->text[n - 1] == '\n' || entry->text[n - 1] == '\r')) entry->text[--n] = 0;
    log_head++;
}

static void core_log(enum retro_log_level level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    push_log((int)level, fmt, ap);
    va_end(ap);
}

static void frontend_log(int level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    push_log(level, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------- video */

static int grow(uint8_t **buffer, size_t *capacity, size_t need) {
    if (need <= *capacity) return 1;
    uint8_t *grown = realloc(*buffer, need);
    if (!grown) return 0;
    *buffer = grown;
    *capacity = need;
    return 1;
}

__attribute__((target_clones("avx2", "default"))) static void convert_565(void) {
    for (size_t i = 0, n = (size_t)frame_width * frame_height; i < n; i++) {
        uint32_t p = ((const uint16_t *)raw_frame)[i];
        uint32_t r = (p >> 11) & 31, g = (p >> 5) & 63, b = p & 31;
        ((uint32_t *)frame)[i] = ((r << 3 | r >> 2) << 16) | ((g << 2 | g >> 4) << 8) | (b << 3 | b >> 2);
    }
}

__attribute__((target_clones("avx2", "default"))) static void convert_1555(void) {
    for (size_t i = 0, n = (size_t)frame_width * frame_height; i < n; i++) {
        uint32_t p = ((const uint16_t *)raw_frame)[i];
        uint32_t r = (p >> 10) & 31, g = (p >> 5) & 31, b = p & 31;
        ((uint32_t *)frame)[i] = ((r << 3 | r >> 2) << 16) | ((g << 3 | g >> 2) << 8) | (b << 3 | b >> 2);
    }
}

/* Copy the rows out of the core's buffer (valid only during this call), cropped by pitch. 16-bit
 * frames are kept packed and converted to BGRX only when someone looks (tzf_video): most frames of
 * a batch are never looked at, and the copy is a quarter of the conversion's cost. */
static void video_refresh(const void *data, unsigned width, unsigned height, size_t pitch) {
    if (!data) { /* a dupe: the core says the last frame stands */
        frames_duped++;
        return;
    }
    if (!width || !height) return;
    size_t bpp = pixel_format == RETRO_PIXEL_FORMAT_XRGB8888 ? 4 : 2;
    size_t row = width * bpp;
    uint8_t **target = bpp == 4 ? &frame : &raw_frame;
    size_t *capacity = bpp == 4 ? &frame_capacity : &raw_capacity;
    if (!grow(target, capacity, row * height)) return;
    if (pitch == row) {
        memcpy(*target, data, row * height);
    } else {
        for (unsigned y = 0; y < height; y++) memcpy(*target + y * row, (const uint8_t *)data + y * pitch, row);
    }
    frame_width = width;
    frame_height = height;
    frame_pending = bpp == 2;
}

static void finish_frame(void) {
    if (!frame_pending) return;
    frame_pending = 0;
    if (!grow(&frame, &frame_capacity, (size_t)frame_width * frame_height * 4)) {
        frame_width = frame_height = 0;
        return;
    }
    if (pixel_format == RETRO_PIXEL_FORMAT_RGB565)
        convert_565();
    else
        convert_1555();
}

/* ---------------------------------------------------------------- audio and input */

static int ensure_audio(size_t more) {
    if (audio_frames + more <= audio_capacity) return 1;
    size_t want = audio_capacity ? audio_capacity * 2 : 8192;
    while (want < audio_frames + more) want *= 2;
    int16_t *grown = realloc(audio, want * 2 * sizeof(int16_t));
    if (!grown) return 0;
    audio = grown;
    audio_capacity = want;
    return 1;
}

static void audio_sample(int16_t left, int16_t right) {
    if (!ensure_audio(1)) return;
    audio[audio_frames * 2] = left;
    audio[audio_frames * 2 + 1] = right;
    audio_frames++;
}

static size_t audio_sample_batch(const int16_t *data, size_t count) {
    if (!ensure_audio(count)) return 0;
    memcpy(audio + audio_frames * 2, data, count * 2 * sizeof(int16_t));
    audio_frames += count;
    return count;
}

static void input_poll(void) { input_polls++; }

static int16_t input_state(unsigned port, unsigned device, unsigned index, unsigned id) {
    input_queries++;
    if (port >= TZF_MAX_PORTS) return 0;
    switch (device & RETRO_DEVICE_MASK) {
    case RETRO_DEVICE_JOYPAD:
        if (id == RETRO_DEVICE_ID_JOYPAD_MASK) return (int16_t)input_masks[port];
        return id < 16 ? (int16_t)((input_masks[port] >> id) & 1) : 0;
    case RETRO_DEVICE_ANALOG:
        if (index <= RETRO_DEVICE_INDEX_ANALOG_RIGHT && id <= RETRO_DEVICE_ID_ANALOG_Y)
            return input_axes[port][index * 2 + id];
        /* pressure-sensitive buttons: the browser sends buttons as bits, so fully pressed or not */
        if (index == RETRO_DEVICE_INDEX_ANALOG_BUTTON && id < 16)
            return (input_masks[port] >> id) & 1 ? 0x7fff : 0;
        return 0;
    default:
        return 0;
    }
}

/* ---------------------------------------------------------------- core options */

static tzf_option *find_option(const char *key) {
    for (int i = 0; i < option_count; i++)
        if (!strcmp(options[i].key, key)) return &options[i];
    return NULL;
}

static void declare_option(const char *key, const char *desc, const char *default_value, const char *values) {
    if (!key) return;
    tzf_option *opt = find_option(key);
    if (!opt) {
        if (option_count >= TZF_MAX_OPTIONS) return;
        opt = &options[option_count++];
        opt->key = strdup(key);
    } else {
        free(opt->default_value);
        free(opt->values);
        free(opt->desc);
    }
    opt->desc = dup_or_null(desc);
    opt->default_value = dup_or_null(default_value);
    opt->values = dup_or_null(values);
}

static void clear_options(void) {
    for (int i = 0; i < option_count; i++) {
        free(options[i].key);
        free(options[i].default_value);
        free(options[i].values);
        free(options[i].desc);
    }
    option_count = 0;
}

/* legacy SET_VARIABLES: value is "Description; first|second|...", the first being the default */
static void set_variables(const struct retro_variable *vars) {
    clear_options();
    strcpy(options_source, "variables");
    for (; vars && vars->key; vars++) {
        const char *v = vars->value ? vars->value : "";
        const char *semi = strchr(v, ';');
        char desc[256] = "";
        const char *list = v;
        if (semi) {
            snprintf(desc, sizeof desc, "%.*s", (int)(semi - v), v);
            list = semi + 1;
            while (*list == ' ') list++;
        }
        const char *bar = strchr(list, '|');
        char first[256];
        snprintf(first, sizeof first, "%.*s", bar ? (int)(bar - list) : (int)strlen(list), list);
        declare_option(vars->key, desc, first, list);
    }
}

static void declare_from_values(const char *key, const char *desc, const struct retro_core_option_value *values,
                                const char *default_value) {
    char joined[4096];
    size_t used = 0;
    joined[0] = 0;
    for (int i = 0; i < RETRO_NUM_CORE_OPTION_VALUES_MAX && values[i].value; i++) {
        int n = snprintf(joined + used, sizeof joined - used, "%s%s", i ? "|" : "", values[i].value);
        if (n < 0 || (size_t)n >= sizeof joined - used) break;
        used += (size_t)n;
    }
    declare_option(key, desc, default_value ? default_value : values[0].value, joined);
}

static void set_options_v1(const struct retro_core_option_definition *defs, const char *source) {
    clear_options();
    snprintf(options_source, sizeof options_source, "%s", source);
    for (; defs && defs->key; defs++) declare_from_values(defs->key, defs->desc, defs->values, defs->default_value);
}

static void set_options_v2(const struct retro_core_options_v2 *opts, const char *source) {
    clear_options();
    snprintf(options_source, sizeof options_source, "%s", source);
    if (!opts) return;
    for (const struct retro_core_option_v2_definition *d = opts->definitions; d && d->key; d++)
        declare_from_values(d->key, d->desc, d->values, d->default_value);
}

static int value_declared(const tzf_option *opt, const char *value) {
    size_t n = strlen(value);
    for (const char *p = opt->values; p && *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, value, n)) return 1;
        p = bar ? bar + 1 : p + len;
    }
    return 0;
}

/* An override the core did not declare as a value is ignored (cores index tables by these strings
 * and some crash on a value they do not know, as gambatte does on an unknown palette name). */
static const char *option_value(const char *key) {
    tzf_option *opt = find_option(key);
    for (int i = 0; i < override_count; i++) {
        if (strcmp(overrides[i].key, key)) continue;
        if (!opt || !opt->values || !*opt->values || value_declared(opt, overrides[i].value)) return overrides[i].value;
        if (!overrides[i].warned) {
            overrides[i].warned = 1;
            frontend_log(RETRO_LOG_WARN, "treazr: option %s=%s is not one of %s: using %s", key, overrides[i].value,
                         opt->values, opt->default_value ? opt->default_value : "(none)");
        }
        break;
    }
    return opt ? opt->default_value : NULL;
}

/* ---------------------------------------------------------------- environment */

static bool env_unknown(unsigned cmd) {
    unsigned bit = cmd & 0x1fff;
    if (!(unknown_seen[bit >> 3] & (1u << (bit & 7)))) {
        unknown_seen[bit >> 3] |= (uint8_t)(1u << (bit & 7));
        frontend_log(RETRO_LOG_DEBUG, "treazr: environment command %u (0x%x) is not supported", cmd & 0xffff, cmd);
    }
    return false;
}

static bool env_dirs_and_info(unsigned cmd, void *data) {
    switch (cmd) {
    case RETRO_ENVIRONMENT_GET_SYSTEM_DIRECTORY:
        *(const char **)data = system_dir;
        return system_dir != NULL;
    case RETRO_ENVIRONMENT_GET_SAVE_DIRECTORY:
        *(const char **)data = save_dir;
        return save_dir != NULL;
    case RETRO_ENVIRONMENT_GET_LIBRETRO_PATH:
        *(const char **)data = core_path;
        return core_path != NULL;
    case RETRO_ENVIRONMENT_SET_GEOMETRY: {
        const struct retro_game_geometry *g = data;
        av_info.geometry.base_width = g->base_width;
        av_info.geometry.base_height = g->base_height;
        av_info.geometry.aspect_ratio = g->aspect_ratio;
        av_info_serial++;
        return true;
    }
    case RETRO_ENVIRONMENT_SET_SYSTEM_AV_INFO:
        av_info = *(const struct retro_system_av_info *)data;
        av_info_serial++;
        return true;
    case RETRO_ENVIRONMENT_SET_CONTROLLER_INFO: {
        const struct retro_controller_info *info = data;
        unsigned n = 0;
        while (info && info[n].types) n++;
        controller_ports = n;
        return true;
    }
    case RETRO_ENVIRONMENT_SET_MESSAGE: {
        const struct retro_message *m = data;
        if (m && m->msg) frontend_log(RETRO_LOG_INFO, "%s", m->msg);
        return true;
    }
    }
    return env_unknown(cmd);
}

static bool env_options(unsigned cmd, void *data) {
    switch (cmd) {
    case RETRO_ENVIRONMENT_GET_VARIABLE: {
        struct retro_variable *var = data;
        if (!var || !var->key) return false;
        var->value = option_value(var->key);
        return var->value != NULL;
    }
    case RETRO_ENVIRONMENT_GET_VARIABLE_UPDATE:
        *(bool *)data = variables_updated != 0;
        variables_updated = 0;
        return true;
    case RETRO_ENVIRONMENT_SET_VARIABLES:
        set_variables(data);
        return true;
    case RETRO_ENVIRONMENT_GET_CORE_OPTIONS_VERSION:
        *(unsigned *)data = 2;
        return true;
    case RETRO_ENVIRONMENT_SET_CORE_OPTIONS:
        set_options_v1(data, "options_v1");
        return true;
    case RETRO_ENVIRONMENT_SET_CORE_OPTIONS_INTL:
        set_options_v1(data ? ((const struct retro_core_options_intl *)data)->us : NULL, "options_v1_intl");
        return true;
    case RETRO_ENVIRONMENT_SET_CORE_OPTIONS_V2:
        set_options_v2(data, "options_v2");
        return true;
    case RETRO_ENVIRONMENT_SET_CORE_OPTIONS_V2_INTL:
        set_options_v2(data ? ((const struct retro_core_options_v2_intl *)data)->us : NULL, "options_v2_intl");
        return true;
    case RETRO_ENVIRONMENT_SET_CORE_OPTIONS_DISPLAY:
    case RETRO_ENVIRONMENT_SET_CORE_OPTIONS_UPDATE_DISPLAY_CALLBACK:
        return true; /* we show no options menu, so visibility does not matter */
    }
    return env_dirs_and_info(cmd, data);
}

static bool environment(unsigned cmd, void *data) {
    switch (cmd) {
    case RETRO_ENVIRONMENT_GET_CAN_DUPE:
        *(bool *)data = true;
        return true;
    case RETRO_ENVIRONMENT_GET_INPUT_BITMASKS:
        if (data) *(bool *)data = true;
        return true;
    case RETRO_ENVIRONMENT_GET_LOG_INTERFACE:
        ((struct retro_log_callback *)data)->log = core_log;
        return true;
    case RETRO_ENVIRONMENT_SET_PIXEL_FORMAT: {
        int f = *(const int *)data;
        if (f < RETRO_PIXEL_FORMAT_0RGB1555 || f > RETRO_PIXEL_FORMAT_RGB565) return false;
        pixel_format = f;
        return true;
    }
    case RETRO_ENVIRONMENT_GET_LANGUAGE:
        *(unsigned *)data = 0; /* RETRO_LANGUAGE_ENGLISH */
        return true;
    case RETRO_ENVIRONMENT_GET_OVERSCAN:
        *(bool *)data = false; /* as RetroArch by default: crop overscan */
        return true;
    case RETRO_ENVIRONMENT_SET_SUPPORT_NO_GAME:
        supports_no_game = *(const bool *)data;
        return true;
    case RETRO_ENVIRONMENT_SET_SERIALIZATION_QUIRKS:
        serialization_quirks = (int)*(const uint64_t *)data;
        return true;
    case RETRO_ENVIRONMENT_SHUTDOWN:
        shutdown_requested = 1;
        return true;
    case RETRO_ENVIRONMENT_SET_PERFORMANCE_LEVEL:
    case RETRO_ENVIRONMENT_SET_SUPPORT_ACHIEVEMENTS:
    case RETRO_ENVIRONMENT_SET_INPUT_DESCRIPTORS:
    case RETRO_ENVIRONMENT_SET_MEMORY_MAPS:
        return true;
    case RETRO_ENVIRONMENT_SET_HW_RENDER:
    case RETRO_ENVIRONMENT_GET_PREFERRED_HW_RENDER:
        return false; /* software rendering only: the server has no GPU context to offer */
    }
    return env_options(cmd, data);
}

/* ---------------------------------------------------------------- exported API */

#define LOAD(field, name)                                                        \
    do {                                                                         \
        *(void **)(&core.field) = dlsym(core.handle, name);                      \
        if (!core.field) {                                                       \
            set_error("%s is not a libretro core: it lacks %s", path, name);     \
            dlclose(core.handle);                                                \
            memset(&core, 0, sizeof core);                                       \
            return -2;                                                           \
        }                                                                        \
    } while (0)

EXPORT const char *tzf_last_error(void) { return last_error; }

EXPORT int tzf_open(const char *path) {
    if (core.handle) {
        set_error("a core is already open in this process");
        return -1;
    }
    core.handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!core.handle) {
        set_error("cannot load %s: %s", path, dlerror());
        return -2;
    }
    LOAD(init, "retro_init");
    LOAD(deinit, "retro_deinit");
    LOAD(api_version, "retro_api_version");
    LOAD(get_system_info, "retro_get_system_info");
    LOAD(get_system_av_info, "retro_get_system_av_info");
    LOAD(set_environment, "retro_set_environment");
    LOAD(set_video_refresh, "retro_set_video_refresh");
    LOAD(set_audio_sample, "retro_set_audio_sample");
    LOAD(set_audio_sample_batch, "retro_set_audio_sample_batch");
    LOAD(set_input_poll, "retro_set_input_poll");
    LOAD(set_input_state, "retro_set_input_state");
    LOAD(set_controller_port_device, "retro_set_controller_port_device");
    LOAD(reset, "retro_reset");
    LOAD(run, "retro_run");
    LOAD(serialize_size, "retro_serialize_size");
    LOAD(serialize, "retro_serialize");
    LOAD(unserialize, "retro_unserialize");
    LOAD(load_game, "retro_load_game");
    LOAD(unload_game, "retro_unload_game");
    LOAD(get_memory_data, "retro_get_memory_data");
    LOAD(get_memory_size, "retro_get_memory_size");
    if (core.api_version() != RETRO_API_VERSION) {
        set_error("%s speaks libretro API %u, not %d", path, core.api_version(), RETRO_API_VERSION);
        return -3;
    }
    free(core_path);
    core_path = strdup(path);
    return 0;
}

EXPORT int tzf_set_directories(const char *system, const char *save) {
    free(system_dir);
    free(save_dir);
    system_dir = dup_or_null(system);
    save_dir = dup_or_null(save);
    return 0;
}

/* retro_set_environment first (cores declare options there), then retro_init, then the rest */
EXPORT int tzf_init(void) {
    if (!core.handle || initialised) {
        set_error(core.handle ? "the core is already initialised" : "no core is open");
        return -1;
    }
    core.set_environment(environment);
    core.init();
    core.set_video_refresh(video_refresh);
    core.set_audio_sample(audio_sample);
    core.set_audio_sample_batch(audio_sample_batch);
    core.set_input_poll(input_poll);
    core.set_input_state(input_state);
    initialised = 1;
    return 0;
}

EXPORT void tzf_system_info(struct retro_system_info *out) { core.get_system_info(out); }

EXPORT int tzf_set_option(const char *key, const char *value) {
    for (int i = 0; i < override_count; i++) {
        if (!strcmp(overrides[i].key, key)) {
            if (strcmp(overrides[i].value, value)) variables_updated = 1;
            free(overrides[i].value);
            overrides[i].value = strdup(value);
            overrides[i].warned = 0;
            return 0;
        }
    }
    if (override_count >= TZF_MAX_OPTIONS) {
        set_error("too many option overrides");
        return -1;
    }
    overrides[override_count].key = strdup(key);
    overrides[override_count].value = strdup(value);
    overrides[override_count].warned = 0;
    override_count++;
    variables_updated = 1;
    return 0;
}

EXPORT int tzf_option_count(void) { return option_count; }

EXPORT int tzf_option_at(int i, const char **key, const char **desc, const char **default_value,
                         const char **values) {
    if (i < 0 || i >= option_count) return -1;
    *key = options[i].key;
    *desc = options[i].desc;
    *default_value = options[i].default_value;
    *values = options[i].values;
    return 0;
}

EXPORT const char *tzf_option_value(const char *key) { return option_value(key); }
EXPORT const char *tzf_options_source(void) { return options_source; }

EXPORT int tzf_load_game(const char *path, const void *data, size_t size, const char *meta) {
    if (!initialised || game_loaded) {
        set_error(initialised ? "a game is already loaded" : "the core is not initialised");
        return -1;
    }
    bool ok;
    if (!path && !data) {
        if (!supports_no_game) {
            set_error("this core needs content to run");
            return -4;
        }
        ok = core.load_game(NULL);
    } else {
        struct retro_game_info info = {path, data, size, meta};
        ok = core.load_game(&info);
    }
    if (!ok) {
        set_error("the core refused the content");
        return -5;
    }
    game_loaded = 1;
    core.get_system_av_info(&av_info);
    av_info_serial++;
    for (unsigned port = 0; port < 2; port++) core.set_controller_port_device(port, RETRO_DEVICE_JOYPAD);
    return 0;
}

EXPORT int tzf_av_info(struct retro_system_av_info *out) {
    *out = av_info;
    return av_info_serial;
}

EXPORT void tzf_set_input(unsigned port, unsigned mask) {
    if (port < TZF_MAX_PORTS) input_masks[port] = (uint16_t)mask;
}

/* axes[0..3]: left x, left y, right x, right y (RETRO_DEVICE_ANALOG) */
EXPORT void tzf_set_axes(unsigned port, const int16_t *axes) {
    if (port < TZF_MAX_PORTS) memcpy(input_axes[port], axes, sizeof input_axes[port]);
}

EXPORT int tzf_run_frames(int n) {
    if (!game_loaded) {
        set_error("no game is loaded");
        return -1;
    }
    for (int i = 0; i < n && !shutdown_requested; i++) {
        core.run();
        frames_run++;
    }
    /* tell the caller, without another call, whether there is more to do than take the frame */
    return (shutdown_requested ? TZF_RUN_SHUTDOWN : 0) | (log_head != log_tail || log_dropped ? TZF_RUN_LOGS : 0);
}

EXPORT const uint8_t *tzf_video(unsigned *width, unsigned *height) {
    finish_frame();
    *width = frame_width;
    *height = frame_height;
    return frame;
}

EXPORT const int16_t *tzf_audio(size_t *count) {
    *count = audio_frames;
    return audio;
}

EXPORT void tzf_audio_clear(void) { audio_frames = 0; }

EXPORT void tzf_counters(uint64_t *out) {
    out[0] = frames_run;
    out[1] = frames_duped;
    out[2] = input_polls;
    out[3] = input_queries;
    out[4] = (uint64_t)shutdown_requested;
    out[5] = (uint64_t)supports_no_game;
    out[6] = controller_ports;
    out[7] = (uint64_t)serialization_quirks;
}

EXPORT size_t tzf_serialize_size(void) { return game_loaded ? core.serialize_size() : 0; }

EXPORT int tzf_serialize(void *buffer, size_t size) {
    if (!game_loaded || !core.serialize(buffer, size)) {
        set_error("the core could not save its state");
        return -1;
    }
    return 0;
}

EXPORT int tzf_unserialize(const void *buffer, size_t size) {
    if (!game_loaded || !core.unserialize(buffer, size)) {
        set_error("the core refused the state");
        return -1;
    }
    return 0;
}

EXPORT void *tzf_memory(unsigned id, size_t *size) {
    if (!game_loaded) {
        *size = 0;
        return NULL;
    }
    *size = core.get_memory_size(id);
    return core.get_memory_data(id);
}

EXPORT void tzf_reset(void) {
    if (game_loaded) core.reset();
}

/* copies the oldest undrained log line into text; returns its level, or -1 when the ring is empty */
EXPORT int tzf_log_next(char *text, size_t size, unsigned *dropped) {
    *dropped = log_dropped;
    log_dropped = 0;
    if (log_tail == log_head) return -1;
    tzf_log_entry *entry = &log_ring[log_tail % TZF_LOG_SLOTS];
    snprintf(text, size, "%s", entry->text);
    log_tail++;
    return entry->level;
}

EXPORT void tzf_close(void) {
    if (game_loaded) core.unload_game();
    if (initialised) core.deinit();
    game_loaded = initialised = 0;
    /* no dlclose: several cores leave threads or atexit handlers behind that would then point at
     * unmapped code; the process ends soon after anyway (one core per process) */
}
