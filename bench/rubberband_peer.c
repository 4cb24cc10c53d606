/* The stretch benchmark's peer: Rubber Band alone, through its C API, in real-time mode.
 *
 *   rubberband_peer RAW RATE OPTIONS TIME_RATIO PITCH_SCALE
 *
 * Reads RAW (interleaved little-endian float32 stereo) 4,096 frames at a time, feeds the
 * stretcher as stagebox's Stretcher does (the same options, its start pad of silence,
 * slices of 4,096 frames, everything retrieved after each), throws the output away and
 * prints "CPU_SECONDS FRAMES_OUT": the process's CPU from before the stretcher is made
 * to after its last output, the span stagebox's side measures too. Compiled by
 * bench/stretch.py at bench time against the system's librubberband.
 */
#include <rubberband/rubberband-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHANNELS 2
#define BLOCK 4096
#define RETRIEVE 8192

static double cpu_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return now.tv_sec + now.tv_nsec / 1e9;
}

static long drain(RubberBandState state, float *const *out)
{
    long frames = 0;
    int ready;
    while ((ready = rubberband_available(state)) > 0) {
        unsigned want = ready < RETRIEVE ? (unsigned)ready : RETRIEVE;
        frames += rubberband_retrieve(state, out, want);
    }
    return frames;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s RAW RATE OPTIONS TIME_RATIO PITCH_SCALE\n", argv[0]);
        return 2;
    }
    FILE *raw = fopen(argv[1], "rb");
    if (!raw) {
        perror(argv[1]);
        return 1;
    }
    unsigned rate = (unsigned)atoi(argv[2]);
    int options = atoi(argv[3]) | RubberBandOptionProcessRealTime
        | RubberBandOptionThreadingNever;
    double time_ratio = atof(argv[4]), pitch_scale = atof(argv[5]);
    static float interleaved[BLOCK * CHANNELS];
    static float in_rows[CHANNELS][BLOCK], out_rows[CHANNELS][RETRIEVE];
    float *in[CHANNELS] = {in_rows[0], in_rows[1]};
    float *out[CHANNELS] = {out_rows[0], out_rows[1]};

    double started = cpu_seconds();
    RubberBandState state = rubberband_new(rate, CHANNELS, options, time_ratio, pitch_scale);
    rubberband_set_max_process_size(state, BLOCK);
    long frames_out = 0;
    for (unsigned pad = rubberband_get_preferred_start_pad(state); pad > 0;) {
        unsigned frames = pad < BLOCK ? pad : BLOCK;
        rubberband_process(state, (const float *const *)in, frames, 0);
        frames_out += drain(state, out);
        pad -= frames;
    }
    size_t frames;
    while ((frames = fread(interleaved, sizeof(float) * CHANNELS, BLOCK, raw)) > 0) {
        for (size_t i = 0; i < frames; i++) {
            in_rows[0][i] = interleaved[2 * i];
            in_rows[1][i] = interleaved[2 * i + 1];
        }
        rubberband_process(state, (const float *const *)in, (unsigned)frames, 0);
        frames_out += drain(state, out);
    }
    rubberband_process(state, (const float *const *)in, 0, 1);
    frames_out += drain(state, out);
    rubberband_delete(state);
    printf("%.6f %ld\n", cpu_seconds() - started, frames_out);
    fclose(raw);
    return 0;
}
