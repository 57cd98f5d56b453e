/*
 * A fake libnvidia-ml for sysgauge-gpu's tests: the exporter loads it through the same
 * nvml-wrapper path (dlopen + symbol lookup) as the real library on a host with a GPU.
 *
 * Build:  gcc -shared -fPIC -O2 -Wl,-z,nodelete -o libnvidia-ml.so.1 fake_nvml.c
 *         (nodelete: the state survives dlclose between NVML sessions, as the kernel driver's
 *         does for the real library)
 *         add -DFAKE_NO_SHUTDOWN to leave out nvmlShutdown,
 *         add -DFAKE_NO_POWER to leave out nvmlDeviceGetPowerUsage (a "missing symbol"),
 *         -DFAKE_NO_GRAPHICS_PROCESSES, -DFAKE_NO_PROCESS_UTIL and -DFAKE_NO_GPM_FREE likewise for
 *         nvmlDeviceGetGraphicsRunningProcesses_v3, nvmlDeviceGetProcessUtilization, nvmlGpmSampleFree.
 *
 * Behaviour comes from the file named by $FAKE_NVML_CONFIG, read at every nvmlInit, one
 * "key value" per line ('#' starts a comment):
 *
 *   init_error 18               nvmlInit returns this code (18 = LIB_RM_VERSION_MISMATCH)
 *   driver_version 550.54.15    nvml_version 12.550.54.15    cuda_version 12040
 *   gpus 2                      number of GPUs (at most 16)
 *   log /path                   append "init", "shutdown", "event_wait" ... lines to this file
 *   gpu0.uuid GPU-...           per GPU: uuid name pci_bus_id minor
 *   gpu0.util_gpu 37            util_gpu util_memory enc_util dec_util (percent)
 *   gpu0.mem_total 42949672960  mem_total mem_reserved mem_free mem_used (bytes)
 *   gpu0.temperature 61         (Celsius)
 *   gpu0.power_usage 123456     power_usage power_limit enforced_power_limit (milliwatts)
 *   gpu0.energy 987654321       total energy (millijoules)
 *   gpu0.fans 2  gpu0.fan0 40   number of fans and each one's speed (percent)
 *   gpu0.clock_graphics 1410    clock_graphics clock_sm clock_mem clock_video (MHz)
 *   gpu0.pcie_tx 1000           pcie_tx pcie_rx (KB/s)
 *   gpu0.ecc_corrected 5        ecc_corrected ecc_uncorrected (aggregate counts)
 *   gpu0.throttle 0x44          current and supported clock-event reason bitmasks
 *   gpu0.throttle_supported 0x1ff
 *   gpu0.ecc_volatile_corrected 2   ecc_volatile_corrected ecc_volatile_uncorrected (volatile)
 *   gpu0.mig_current 1          mig_current mig_pending
 *   gpu0.mig_max 7              MIG device slots (nvmlDeviceGetMaxMigDeviceCount)
 *   gpu0.mig0.gi 1              a MIG device (compute instance) in slot 0, with its GPU instance
 *   gpu0.mig0.ci 0              and compute instance ids; the handle answers the per-device
 *   gpu0.mig0.uuid MIG-...      keys under its own prefix (gpu0.mig0.uuid, .name, .mem_total,
 *                               .mem_free, .mem_used, .processes ...; unset is NOT_SUPPORTED)
 *                               and is lost, hung or counted with its GPU
 *   gpu0.violation_power 1500000000   violation time (ns) per policy: violation_power _thermal
 *                               _sync_boost _board_limit _low_utilization _reliability
 *   gpu0.pstate 2               performance state
 *   gpu0.pcie_gen 3             pcie_gen pcie_gen_max pcie_width pcie_width_max pcie_replay
 *   gpu0.power_default_limit 300000   power_default_limit power_min_limit power_max_limit (mW)
 *   gpu0.max_clock_sm 1980      max_clock_graphics max_clock_sm max_clock_mem max_clock_video (MHz)
 *   gpu0.retired_sbe 2          retired_sbe retired_dbe (page counts) retired_pending (0/1)
 *   gpu0.field82 71             NVML field value N (82 memory temperature, 142-145 remapped
 *                               rows correctable/uncorrectable/pending/failure, 230 recovery action)
 *   gpu0.processes 100:1048576,200:2097152   pid:bytes of compute processes
 *   gpu0.graphics_processes 300:4096         pid:bytes of graphics processes
 *   gpu0.process_util 100:50:20:0:0:1000     per-process utilization samples,
 *                               pid:sm:mem:enc:dec:timestamp_us (percent), comma-separated
 *   gpu0.lost_after 3           from the 4th call on this GPU (counted from init), GPU_IS_LOST
 *   gpu0.lost_file /path        GPU_IS_LOST while this file exists
 *   gpu0.xid 79,48              XIDs delivered one per nvmlEventSetWait_v2, then TIMEOUT
 *   gpu0.sleep_ms 5000          every call on this GPU first sleeps (a hung driver)
 *
 * GPM (nvmlGpm*): see the GPM section at the end.
 *
 * A value "!N" makes the call return NVML error code N instead (e.g. "!4", NO_PERMISSION).
 * A value that is not configured at all is NOT_SUPPORTED, as on a GPU that lacks the sensor.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef int nvmlReturn_t;
typedef struct fake_device *nvmlDevice_t;
typedef struct fake_event_set *nvmlEventSet_t;

#define OK 0
#define ERR_UNINITIALIZED 1
#define ERR_INVALID_ARGUMENT 2
#define ERR_NOT_SUPPORTED 3
#define ERR_NOT_FOUND 6
#define ERR_INSUFFICIENT_SIZE 7
#define ERR_TIMEOUT 10
#define ERR_GPU_IS_LOST 15
#define ERR_UNKNOWN 999

#define MAX_GPUS 16
#define MAX_KEYS 512
#define MAX_MIG 7

typedef struct {
    char busIdLegacy[16];
    unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
    char busId[32];
} nvmlPciInfo_t;

typedef struct {
    unsigned int gpu, memory;
} nvmlUtilization_t;

typedef struct {
    unsigned int version;
    unsigned long long total, reserved, free, used;
} nvmlMemory_v2_t;

typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId, computeInstanceId;
} nvmlProcessInfo_t;

typedef struct {
    nvmlDevice_t device;
    unsigned long long eventType, eventData;
    unsigned int gpuInstanceId, computeInstanceId;
} nvmlEventData_t;

struct fake_device {
    int index;       /* the physical GPU's index (a MIG device's parent) */
    int mig;         /* the MIG device slot, or -1 for the physical GPU */
    char prefix[32]; /* "gpu0." or "gpu0.mig1.": where this handle's keys start */
    long calls;
    int xid_next;
};

struct fake_event_set {
    unsigned long long registered[MAX_GPUS];
};

static char *keys[MAX_KEYS];
static char *values[MAX_KEYS];
static int nkeys;
static int initialised;
static int ngpus;
static struct fake_device devices[MAX_GPUS];
static struct fake_device mig_devices[MAX_GPUS][MAX_MIG];

static void clear_config(void) {
    for (int i = 0; i < nkeys; i++) {
        free(keys[i]);
        free(values[i]);
    }
    nkeys = 0;
}

static void load_config(void) {
    clear_config();
    const char *path = getenv("FAKE_NVML_CONFIG");
    if (!path) return;
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[4096];
    while (fgets(line, sizeof line, f) && nkeys < MAX_KEYS) {
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char *key = line;
        while (*key == ' ' || *key == '\t') key++;
        char *end = key;
        while (*end && *end != ' ' && *end != '\t' && *end != '\n') end++;
        if (end == key) continue;
        char *value = end;
        while (*value == ' ' || *value == '\t') value++;
        *end = 0;
        size_t n = strlen(value);
        while (n && (value[n - 1] == '\n' || value[n - 1] == ' ' || value[n - 1] == '\t')) value[--n] = 0;
        keys[nkeys] = strdup(key);
        values[nkeys] = strdup(value);
        nkeys++;
    }
    fclose(f);
}

static const char *get(const char *key) {
    for (int i = nkeys - 1; i >= 0; i--)
        if (strcmp(keys[i], key) == 0) return values[i];
    return NULL;
}

static const char *dev_get(int index, const char *key) {
    char full[128];
    snprintf(full, sizeof full, "gpu%d.%s", index, key);
    return get(full);
}

static const char *dev_key(nvmlDevice_t dev, const char *key) {
    char full[160];
    snprintf(full, sizeof full, "%s%s", dev->prefix, key);
    return get(full);
}

/* A MIG device handle whose slot is configured (gpuN.migM.gi set) on a GPU that exists. */
static int is_mig(nvmlDevice_t dev) {
    uintptr_t p = (uintptr_t)dev, first = (uintptr_t)&mig_devices[0][0];
    if (p < first || p >= first + sizeof mig_devices) return 0;
    return dev->index < ngpus && dev_key(dev, "gi") != NULL;
}

static void log_call(const char *what) {
    const char *path = get("log");
    if (!path) return;
    FILE *f = fopen(path, "a");
    if (!f) return;
    fprintf(f, "%s\n", what);
    fclose(f);
}

/* NOT_SUPPORTED when unset, the code N for "!N", else SUCCESS with *out parsed. */
static nvmlReturn_t parse_u64(const char *value, unsigned long long *out) {
    if (!value) return ERR_NOT_SUPPORTED;
    if (value[0] == '!') return atoi(value + 1);
    *out = strtoull(value, NULL, 0);
    return OK;
}

/* Every device call starts here: counts the call and decides whether the GPU is lost. */
static nvmlReturn_t dev_check(nvmlDevice_t dev) {
    if (!initialised) return ERR_UNINITIALIZED;
    if (!dev) return ERR_INVALID_ARGUMENT;
    if (is_mig(dev)) {
        dev = &devices[dev->index]; /* a MIG device is lost, hung or counted with its GPU */
    } else if ((uintptr_t)dev < (uintptr_t)devices || (uintptr_t)dev >= (uintptr_t)(devices + ngpus)) {
        return ERR_INVALID_ARGUMENT;
    }
    dev->calls++;
    const char *sleep_ms = dev_key(dev, "sleep_ms");
    if (sleep_ms) {
        long ms = atol(sleep_ms);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    const char *after = dev_key(dev, "lost_after");
    if (after && dev->calls > atol(after)) return ERR_GPU_IS_LOST;
    const char *file = dev_key(dev, "lost_file");
    if (file && access(file, F_OK) == 0) return ERR_GPU_IS_LOST;
    return OK;
}

static nvmlReturn_t dev_u64(nvmlDevice_t dev, const char *key, unsigned long long *out) {
    nvmlReturn_t r = dev_check(dev);
    if (r != OK) return r;
    if (!out) return ERR_INVALID_ARGUMENT;
    return parse_u64(dev_key(dev, key), out);
}

static nvmlReturn_t dev_uint(nvmlDevice_t dev, const char *key, unsigned int *out) {
    unsigned long long v = 0;
    nvmlReturn_t r = dev_u64(dev, key, &v);
    if (r == OK) *out = (unsigned int)v;
    return r;
}

static nvmlReturn_t copy_string(const char *value, char *buf, unsigned int len) {
    if (!value) return ERR_NOT_SUPPORTED;
    if (value[0] == '!') return atoi(value + 1);
    if (!buf || strlen(value) + 1 > len) return ERR_INSUFFICIENT_SIZE;
    strcpy(buf, value);
    return OK;
}

/* ---- lifecycle ---- */

/* Like the real library, init and shutdown are reference counted: NVML is shut down by the
 * last nvmlShutdown. Every init reads the configuration again and restarts the call counts. */
static nvmlReturn_t init_common(void) {
    load_config();
    log_call("init");
    const char *err = get("init_error");
    int code = err ? atoi(err) : 0;
    if (code != 0) {
        if (!initialised) clear_config();
        return code;
    }
    const char *n = get("gpus");
    ngpus = n ? atoi(n) : 0;
    if (ngpus > MAX_GPUS) ngpus = MAX_GPUS;
    for (int i = 0; i < MAX_GPUS; i++) {
        devices[i].index = i;
        devices[i].mig = -1;
        snprintf(devices[i].prefix, sizeof devices[i].prefix, "gpu%d.", i);
        devices[i].calls = 0;
        for (int m = 0; m < MAX_MIG; m++) {
            mig_devices[i][m].index = i;
            mig_devices[i][m].mig = m;
            snprintf(mig_devices[i][m].prefix, sizeof mig_devices[i][m].prefix, "gpu%d.mig%d.", i, m);
        }
        /* xid_next is never reset: an XID happens once, whatever the sessions. */
    }
    initialised++;
    return OK;
}

nvmlReturn_t nvmlInit_v2(void) { return init_common(); }
nvmlReturn_t nvmlInitWithFlags(unsigned int flags) { (void)flags; return init_common(); }

#ifndef FAKE_NO_SHUTDOWN
nvmlReturn_t nvmlShutdown(void) {
    if (!initialised) return ERR_UNINITIALIZED;
    log_call("shutdown");
    if (--initialised == 0) clear_config();
    return OK;
}
#endif

const char *nvmlErrorString(nvmlReturn_t r) {
    (void)r;
    return "fake NVML error";
}

/* ---- system ---- */

nvmlReturn_t nvmlSystemGetDriverVersion(char *buf, unsigned int len) {
    if (!initialised) return ERR_UNINITIALIZED;
    return copy_string(get("driver_version"), buf, len);
}

nvmlReturn_t nvmlSystemGetNVMLVersion(char *buf, unsigned int len) {
    if (!initialised) return ERR_UNINITIALIZED;
    return copy_string(get("nvml_version"), buf, len);
}

nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *version) {
    if (!initialised) return ERR_UNINITIALIZED;
    unsigned long long v = 0;
    nvmlReturn_t r = parse_u64(get("cuda_version"), &v);
    if (r == OK) *version = (int)v;
    return r;
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) {
    if (!initialised) return ERR_UNINITIALIZED;
    *count = (unsigned int)ngpus;
    return OK;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *dev) {
    if (!initialised) return ERR_UNINITIALIZED;
    if (index >= (unsigned int)ngpus) return ERR_INVALID_ARGUMENT;
    nvmlReturn_t r = dev_check(&devices[index]);
    if (r != OK) return r;
    *dev = &devices[index];
    return OK;
}

/* ---- identity ---- */

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t dev, char *buf, unsigned int len) {
    nvmlReturn_t r = dev_check(dev);
    return r != OK ? r : copy_string(dev_key(dev, "uuid"), buf, len);
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t dev, char *buf, unsigned int len) {
    nvmlReturn_t r = dev_check(dev);
    return r != OK ? r : copy_string(dev_key(dev, "name"), buf, len);
}

nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t dev, unsigned int *index) {
    nvmlReturn_t r = dev_check(dev);
    if (r == OK) *index = (unsigned int)dev->index;
    return r;
}

nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t dev, unsigned int *minor) {
    return dev_uint(dev, "minor", minor);
}

nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t dev, nvmlPciInfo_t *pci) {
    nvmlReturn_t r = dev_check(dev);
    if (r != OK) return r;
    const char *id = dev_key(dev, "pci_bus_id");
    if (!id) return ERR_NOT_SUPPORTED;
    memset(pci, 0, sizeof *pci);
    snprintf(pci->busId, sizeof pci->busId, "%s", id);
    snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%s", id);
    return OK;
}

/* ---- metrics ---- */

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t dev, nvmlUtilization_t *u) {
    nvmlReturn_t r = dev_uint(dev, "util_gpu", &u->gpu);
    if (r != OK) return r;
    unsigned long long m = 0;
    r = parse_u64(dev_key(dev, "util_memory"), &m);
    u->memory = (unsigned int)m;
    return r;
}

static nvmlReturn_t engine_util(nvmlDevice_t dev, const char *key, unsigned int *util, unsigned int *period) {
    nvmlReturn_t r = dev_uint(dev, key, util);
    if (r == OK && period) *period = 167000;
    return r;
}

nvmlReturn_t nvmlDeviceGetEncoderUtilization(nvmlDevice_t dev, unsigned int *util, unsigned int *period) {
    return engine_util(dev, "enc_util", util, period);
}

nvmlReturn_t nvmlDeviceGetDecoderUtilization(nvmlDevice_t dev, unsigned int *util, unsigned int *period) {
    return engine_util(dev, "dec_util", util, period);
}

nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t dev, nvmlMemory_v2_t *m) {
    nvmlReturn_t r = dev_check(dev);
    if (r != OK) return r;
    /* NVML_STRUCT_VERSION(Memory, 2): the caller must say which layout it passes. */
    if (m->version != ((2u << 24) | (unsigned int)sizeof(nvmlMemory_v2_t))) return ERR_INVALID_ARGUMENT;
    /* On a MIG device handle: the memory of its GPU instance (gpuN.migM.mem_*). */
    if ((r = parse_u64(dev_key(dev, "mem_total"), &m->total)) != OK) return r;
    if ((r = parse_u64(dev_key(dev, "mem_free"), &m->free)) != OK) return r;
    if ((r = parse_u64(dev_key(dev, "mem_used"), &m->used)) != OK) return r;
    m->reserved = 0;
    parse_u64(dev_key(dev, "mem_reserved"), &m->reserved);
    return OK;
}

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t dev, int sensor, unsigned int *temp) {
    if (sensor != 0) return ERR_INVALID_ARGUMENT;
    return dev_uint(dev, "temperature", temp);
}

#ifndef FAKE_NO_POWER
nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t dev, unsigned int *mw) {
    return dev_uint(dev, "power_usage", mw);
}
#endif

nvmlReturn_t nvmlDeviceGetPowerManagementLimit(nvmlDevice_t dev, unsigned int *mw) {
    return dev_uint(dev, "power_limit", mw);
}

nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t dev, unsigned int *mw) {
    return dev_uint(dev, "enforced_power_limit", mw);
}

nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t dev, unsigned long long *mj) {
    return dev_u64(dev, "energy", mj);
}

nvmlReturn_t nvmlDeviceGetNumFans(nvmlDevice_t dev, unsigned int *n) {
    return dev_uint(dev, "fans", n);
}

nvmlReturn_t nvmlDeviceGetFanSpeed_v2(nvmlDevice_t dev, unsigned int fan, unsigned int *speed) {
    char key[32];
    snprintf(key, sizeof key, "fan%u", fan);
    return dev_uint(dev, key, speed);
}

nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t dev, int type, unsigned int *mhz) {
    static const char *names[] = {"clock_graphics", "clock_sm", "clock_mem", "clock_video"};
    if (type < 0 || type > 3) return ERR_INVALID_ARGUMENT;
    return dev_uint(dev, names[type], mhz);
}

nvmlReturn_t nvmlDeviceGetPcieThroughput(nvmlDevice_t dev, int counter, unsigned int *kbs) {
    if (counter < 0 || counter > 1) return ERR_INVALID_ARGUMENT;
    return dev_uint(dev, counter == 0 ? "pcie_tx" : "pcie_rx", kbs);
}

nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t dev, int error_type, int counter_type, unsigned long long *count) {
    /* counter_type 0: volatile (since the driver loaded), 1: aggregate (lifetime). */
    if (counter_type != 0 && counter_type != 1) return ERR_INVALID_ARGUMENT;
    static const char *names[2][2] = {{"ecc_volatile_corrected", "ecc_volatile_uncorrected"},
                                      {"ecc_corrected", "ecc_uncorrected"}};
    return dev_u64(dev, names[counter_type][error_type == 0 ? 0 : 1], count);
}

nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t dev, unsigned long long *reasons) {
    return dev_u64(dev, "throttle", reasons);
}

nvmlReturn_t nvmlDeviceGetSupportedClocksThrottleReasons(nvmlDevice_t dev, unsigned long long *reasons) {
    return dev_u64(dev, "throttle_supported", reasons);
}

nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t dev, unsigned int *current, unsigned int *pending) {
    nvmlReturn_t r = dev_uint(dev, "mig_current", current);
    if (r != OK) return r;
    unsigned long long p = 0;
    r = parse_u64(dev_key(dev, "mig_pending"), &p);
    *pending = (unsigned int)(r == OK ? p : *current);
    return OK;
}

/* ---- MIG ---- */

/* nvml.h: the number of MIG device slots of a GPU (gpuN.mig_max; 7 on an A100). */
nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t dev, unsigned int *count) {
    if (dev && is_mig(dev)) return ERR_INVALID_ARGUMENT;
    return dev_uint(dev, "mig_max", count);
}

/* The MIG device (a compute instance) in slot `index`: gpuN.migM.* configures it, gpuN.migM.gi
 * being set makes it exist (a value "!N" fails the lookup with N); an empty slot is NOT_FOUND,
 * and a GPU not in MIG mode has none. */
nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t dev, unsigned int index, nvmlDevice_t *mig) {
    nvmlReturn_t r = dev_check(dev);
    if (r != OK) return r;
    if (!mig || is_mig(dev) || index >= MAX_MIG) return ERR_INVALID_ARGUMENT;
    const char *mode = dev_key(dev, "mig_current");
    if (!mode || atoi(mode) != 1) return ERR_INVALID_ARGUMENT;
    struct fake_device *m = &mig_devices[dev->index][index];
    const char *gi = dev_key(m, "gi");
    if (!gi) return ERR_NOT_FOUND;
    if (gi[0] == '!') return atoi(gi + 1);
    *mig = m;
    return OK;
}

nvmlReturn_t nvmlDeviceIsMigDeviceHandle(nvmlDevice_t dev, unsigned int *is_mig_device) {
    nvmlReturn_t r = dev_check(dev);
    if (r != OK) return r;
    if (!is_mig_device) return ERR_INVALID_ARGUMENT;
    *is_mig_device = is_mig(dev) ? 1 : 0;
    return OK;
}

nvmlReturn_t nvmlDeviceGetDeviceHandleFromMigDeviceHandle(nvmlDevice_t mig, nvmlDevice_t *dev) {
    nvmlReturn_t r = dev_check(mig);
    if (r != OK) return r;
    if (!dev || !is_mig(mig)) return ERR_INVALID_ARGUMENT;
    *dev = &devices[mig->index];
    return OK;
}

/* The GPU instance and compute instance ids of a MIG device handle (gpuN.migM.gi, .ci);
 * NOT_SUPPORTED on a physical GPU, as nvml.h says. */
static nvmlReturn_t instance_id(nvmlDevice_t dev, const char *key, unsigned int *id) {
    nvmlReturn_t r = dev_check(dev);
    if (r != OK) return r;
    if (!is_mig(dev)) return ERR_NOT_SUPPORTED;
    return dev_uint(dev, key, id);
}

nvmlReturn_t nvmlDeviceGetGpuInstanceId(nvmlDevice_t dev, unsigned int *id) { return instance_id(dev, "gi", id); }
nvmlReturn_t nvmlDeviceGetComputeInstanceId(nvmlDevice_t dev, unsigned int *id) { return instance_id(dev, "ci", id); }

/* At most this many processes per list; a longer list is cut (as a short config would be). */
#define MAX_PROCS 1024

/* A "pid:bytes,pid:bytes" list (from the key `key`) as nvmlProcessInfo_t, with the size
 * protocol: a short buffer gets INSUFFICIENT_SIZE and the count needed. */
static nvmlReturn_t process_list(nvmlDevice_t dev, const char *key, unsigned int *count, nvmlProcessInfo_t *infos) {
    nvmlReturn_t r = dev_check(dev);
    if (r != OK) return r;
    if (!count) return ERR_INVALID_ARGUMENT;
    const char *list = dev_key(dev, key);
    if (list && list[0] == '!') return atoi(list + 1);
    unsigned int n = 0;
    static nvmlProcessInfo_t found[MAX_PROCS];
    /* On a MIG device handle, the processes of that instance, carrying its ids; on a GPU,
     * 0xFFFFFFFF ("no instance"). */
    unsigned long long gi = 0xFFFFFFFFu, ci = 0xFFFFFFFFu;
    if (is_mig(dev)) {
        parse_u64(dev_key(dev, "gi"), &gi);
        parse_u64(dev_key(dev, "ci"), &ci);
    }
    for (const char *p = list; p && *p && n < MAX_PROCS;) {
        char *end;
        found[n].pid = (unsigned int)strtoul(p, &end, 10);
        found[n].usedGpuMemory = *end == ':' ? strtoull(end + 1, &end, 0) : 0;
        found[n].gpuInstanceId = (unsigned int)gi;
        found[n].computeInstanceId = (unsigned int)ci;
        n++;
        p = strchr(end, ',');
        if (p) p++;
    }
    if (*count < n || (!infos && n > 0)) {
        *count = n;
        return ERR_INSUFFICIENT_SIZE;
    }
    *count = n;
    if (infos) memcpy(infos, found, n * sizeof *infos);
    return OK;
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t dev, unsigned int *count, nvmlProcessInfo_t *infos) {
    return process_list(dev, "processes", count, infos);
}

#ifndef FAKE_NO_GRAPHICS_PROCESSES
nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t dev, unsigned int *count, nvmlProcessInfo_t *infos) {
    return process_list(dev, "graphics_processes", count, infos);
}
#endif

typedef struct {
    unsigned int pid;
    unsigned long long timeStamp;
    unsigned int smUtil, memUtil, encUtil, decUtil;
} nvmlProcessUtilizationSample_t;

/* "pid:sm:mem:enc:dec:timestamp,..." (percent; timestamp in microseconds). Samples older than
 * lastSeen are not returned; none at all is NOT_FOUND, as the real library answers. */
#ifndef FAKE_NO_PROCESS_UTIL
nvmlReturn_t nvmlDeviceGetProcessUtilization(nvmlDevice_t dev, nvmlProcessUtilizationSample_t *samples, unsigned int *count, unsigned long long lastSeen) {
    nvmlReturn_t r = dev_check(dev);
    if (r != OK) return r;
    if (!count) return ERR_INVALID_ARGUMENT;
    const char *list = dev_key(dev, "process_util");
    if (!list) return ERR_NOT_SUPPORTED;
    if (list[0] == '!') return atoi(list + 1);
    static nvmlProcessUtilizationSample_t found[MAX_PROCS];
    unsigned int n = 0;
    for (const char *p = list; *p && n < MAX_PROCS;) {
        unsigned long long v[6] = {0};
        char *end = (char *)p;
        for (int k = 0; k < 6; k++) {
            v[k] = strtoull(end, &end, 10);
            if (*end != ':') break;
            end++;
        }
        if (v[5] > lastSeen) {
            found[n].pid = (unsigned int)v[0];
            found[n].smUtil = (unsigned int)v[1];
            found[n].memUtil = (unsigned int)v[2];
            found[n].encUtil = (unsigned int)v[3];
            found[n].decUtil = (unsigned int)v[4];
            found[n].timeStamp = v[5];
            n++;
        }
        p = strchr(end, ',');
        if (!p) break;
        p++;
    }
    if (n == 0) return ERR_NOT_FOUND;
    if (!samples || *count < n) {
        *count = n;
        return ERR_INSUFFICIENT_SIZE;
    }
    *count = n;
    memcpy(samples, found, n * sizeof *samples);
    return OK;
}
#endif

/* ---- health ---- */

typedef struct {
    unsigned long long referenceTime, violationTime;
} nvmlViolationTime_t;

/* Violation (throttle) time in ns per policy: violation_power, violation_thermal, ... */
nvmlReturn_t nvmlDeviceGetViolationStatus(nvmlDevice_t dev, int policy, nvmlViolationTime_t *v) {
    static const char *names[] = {"violation_power", "violation_thermal", "violation_sync_boost",
                                  "violation_board_limit", "violation_low_utilization", "violation_reliability",
                                  "violation_total_app_clocks", "violation_total_base_clocks"};
    if (policy < 0 || policy > 7 || !v) return ERR_INVALID_ARGUMENT;
    unsigned long long ns = 0;
    nvmlReturn_t r = dev_u64(dev, names[policy], &ns);
    if (r != OK) return r;
    v->referenceTime = 1700000000000000ULL;
    v->violationTime = ns;
    return OK;
}

nvmlReturn_t nvmlDeviceGetPerformanceState(nvmlDevice_t dev, unsigned int *state) {
    return dev_uint(dev, "pstate", state);
}

nvmlReturn_t nvmlDeviceGetCurrPcieLinkGeneration(nvmlDevice_t dev, unsigned int *v) { return dev_uint(dev, "pcie_gen", v); }
nvmlReturn_t nvmlDeviceGetMaxPcieLinkGeneration(nvmlDevice_t dev, unsigned int *v) { return dev_uint(dev, "pcie_gen_max", v); }
nvmlReturn_t nvmlDeviceGetCurrPcieLinkWidth(nvmlDevice_t dev, unsigned int *v) { return dev_uint(dev, "pcie_width", v); }
nvmlReturn_t nvmlDeviceGetMaxPcieLinkWidth(nvmlDevice_t dev, unsigned int *v) { return dev_uint(dev, "pcie_width_max", v); }
nvmlReturn_t nvmlDeviceGetPcieReplayCounter(nvmlDevice_t dev, unsigned int *v) { return dev_uint(dev, "pcie_replay", v); }

nvmlReturn_t nvmlDeviceGetPowerManagementDefaultLimit(nvmlDevice_t dev, unsigned int *mw) {
    return dev_uint(dev, "power_default_limit", mw);
}

nvmlReturn_t nvmlDeviceGetPowerManagementLimitConstraints(nvmlDevice_t dev, unsigned int *min, unsigned int *max) {
    nvmlReturn_t r = dev_uint(dev, "power_min_limit", min);
    if (r != OK) return r;
    unsigned long long v = 0;
    r = parse_u64(dev_key(dev, "power_max_limit"), &v);
    *max = (unsigned int)v;
    return r;
}

nvmlReturn_t nvmlDeviceGetMaxClockInfo(nvmlDevice_t dev, int type, unsigned int *mhz) {
    static const char *names[] = {"max_clock_graphics", "max_clock_sm", "max_clock_mem", "max_clock_video"};
    if (type < 0 || type > 3) return ERR_INVALID_ARGUMENT;
    return dev_uint(dev, names[type], mhz);
}

/* Retired pages by cause (0: multiple single-bit ECC, 1: double-bit ECC): retired_sbe, retired_dbe
 * give the count; addresses and timestamps are made up. */
static nvmlReturn_t retired(nvmlDevice_t dev, int cause, unsigned int *count, unsigned long long *addresses, unsigned long long *timestamps) {
    if (cause < 0 || cause > 1 || !count) return ERR_INVALID_ARGUMENT;
    unsigned long long n = 0;
    nvmlReturn_t r = dev_u64(dev, cause == 0 ? "retired_sbe" : "retired_dbe", &n);
    if (r != OK) return r;
    if (*count < n) {
        *count = (unsigned int)n;
        return ERR_INSUFFICIENT_SIZE;
    }
    for (unsigned int i = 0; i < n; i++) {
        if (addresses) addresses[i] = 0x1000ULL * (i + 1);
        if (timestamps) timestamps[i] = 1700000000ULL + i;
    }
    *count = (unsigned int)n;
    return OK;
}

nvmlReturn_t nvmlDeviceGetRetiredPages(nvmlDevice_t dev, int cause, unsigned int *count, unsigned long long *addresses) {
    return retired(dev, cause, count, addresses, NULL);
}

nvmlReturn_t nvmlDeviceGetRetiredPages_v2(nvmlDevice_t dev, int cause, unsigned int *count, unsigned long long *addresses, unsigned long long *timestamps) {
    return retired(dev, cause, count, addresses, timestamps);
}

nvmlReturn_t nvmlDeviceGetRetiredPagesPendingStatus(nvmlDevice_t dev, unsigned int *pending) {
    return dev_uint(dev, "retired_pending", pending);
}

typedef struct {
    unsigned int fieldId, scopeId;
    long long timestamp, latencyUsec;
    unsigned int valueType;
    nvmlReturn_t nvmlReturn;
    union {
        double dVal;
        unsigned int uiVal;
        unsigned long ulVal;
        unsigned long long ullVal;
        long long sllVal;
    } value;
} nvmlFieldValue_t;

/* Field values from keys "fieldN" (N the NVML field id, e.g. gpu0.field82 for the memory
 * temperature), as unsigned long long; an unset field is NOT_SUPPORTED in its own entry. */
nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t dev, int count, nvmlFieldValue_t *values) {
    nvmlReturn_t r = dev_check(dev);
    if (r != OK) return r;
    if (count < 0 || (count > 0 && !values)) return ERR_INVALID_ARGUMENT;
    for (int i = 0; i < count; i++) {
        char key[32];
        snprintf(key, sizeof key, "field%u", values[i].fieldId);
        values[i].timestamp = 1700000000000000LL;
        values[i].latencyUsec = 0;
        values[i].valueType = 3; /* NVML_VALUE_TYPE_UNSIGNED_LONG_LONG */
        values[i].nvmlReturn = parse_u64(dev_key(dev, key), &values[i].value.ullVal);
    }
    return OK;
}

/* ---- events ---- */

nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set) {
    if (!initialised) return ERR_UNINITIALIZED;
    *set = calloc(1, sizeof **set);
    log_call("event_set_create");
    return *set ? OK : ERR_UNKNOWN;
}

nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t dev, unsigned long long types, nvmlEventSet_t set) {
    nvmlReturn_t r = dev_check(dev);
    if (r != OK) return r;
    if (!set) return ERR_INVALID_ARGUMENT;
    set->registered[dev->index] |= types;
    return OK;
}

nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data, unsigned int timeout_ms) {
    if (!initialised) return ERR_UNINITIALIZED;
    for (int i = 0; i < ngpus; i++) {
        struct fake_device *d = &devices[i];
        if (!(set->registered[i] & 8ULL)) continue; /* nvmlEventTypeXidCriticalError */
        const char *list = dev_get(i, "xid");
        if (!list) continue;
        const char *p = list;
        for (int k = 0; k < d->xid_next && p; k++) {
            p = strchr(p, ',');
            if (p) p++;
        }
        if (!p || !*p) continue;
        d->xid_next++;
        memset(data, 0, sizeof *data);
        data->device = d;
        data->eventType = 8ULL;
        data->eventData = strtoull(p, NULL, 10);
        data->gpuInstanceId = data->computeInstanceId = 0xFFFFFFFFu;
        log_call("event_delivered");
        return OK;
    }
    /* Nothing pending: wait (in short slices, like the driver would block) and time out. */
    struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    return ERR_TIMEOUT;
}

nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set) {
    log_call("event_set_free");
    free(set);
    return OK;
}

/* ---- GPM (GPU Performance Monitoring, Hopper and newer) ----
 *
 *   gpu0.gpm_supported 1        nvmlGpmQueryDeviceSupport's answer (unset: 0, "!N": error N)
 *   gpu0.gpm1 40,60,80          the value of GPM metric 1 (NVML_GPM_METRIC_GRAPHICS_UTIL) for the
 *                               GPU, by the pair of samples: a pair whose second sample is the
 *                               GPU's k-th sample since init gets the (k-1)-th entry (the last
 *                               one beyond the list); an unset metric is NOT_SUPPORTED in its
 *                               own entry, a value "!N" is error N there
 *   gpu0.gi1.gpm5 25            likewise for MIG GPU instance 1 (nvmlGpmMigSampleGet), counted
 *                               per instance
 *   gpu0.gpm_sample_error 15    nvmlGpmSampleGet / nvmlGpmMigSampleGet return this code
 *
 * Each nvmlGpmMetricsGet logs "gpm <where> <k1>-<k2> <ms>" (where: gpu0 or gpu0.gi1; k1, k2 the
 * samples' numbers; ms the milliseconds between them), so tests see which samples were paired.
 * -DFAKE_NO_GPM_FREE leaves out nvmlGpmSampleFree (nvml-wrapper panics when it drops a sample
 * without it). */

#define GPM_SUPPORT_VERSION 1
#define GPM_METRICS_GET_VERSION 1
#define GPM_METRIC_MAX 210
#define MAX_GI 16

struct fake_gpm_sample {
    int filled;
    int gpu;
    int gi; /* -1: the whole GPU */
    long seq;
    struct timespec at;
};
typedef struct fake_gpm_sample *nvmlGpmSample_t;

typedef struct {
    unsigned int version;
    unsigned int isSupportedDevice;
} nvmlGpmSupport_t;

typedef struct {
    unsigned int metricId;
    nvmlReturn_t nvmlReturn;
    double value;
    struct {
        char *shortName;
        char *longName;
        char *unit;
    } metricInfo;
} nvmlGpmMetric_t;

typedef struct {
    unsigned int version;
    unsigned int numMetrics;
    nvmlGpmSample_t sample1;
    nvmlGpmSample_t sample2;
    nvmlGpmMetric_t metrics[GPM_METRIC_MAX];
} nvmlGpmMetricsGet_t;

/* Samples taken so far, per GPU (slot 0) and per GPU instance (slot gi+1); reset by init. */
static long gpm_seq[MAX_GPUS][MAX_GI + 1];
static int gpm_session = -1;

nvmlReturn_t nvmlGpmQueryDeviceSupport(nvmlDevice_t dev, nvmlGpmSupport_t *support) {
    nvmlReturn_t r = dev_check(dev);
    if (r != OK) return r;
    if (!support) return ERR_INVALID_ARGUMENT;
    if (support->version != GPM_SUPPORT_VERSION) return 25; /* ARGUMENT_VERSION_MISMATCH */
    const char *v = dev_key(dev, "gpm_supported");
    if (v && v[0] == '!') return atoi(v + 1);
    support->isSupportedDevice = v ? (unsigned int)atoi(v) : 0;
    return OK;
}

nvmlReturn_t nvmlGpmSampleAlloc(nvmlGpmSample_t *sample) {
    if (!initialised) return ERR_UNINITIALIZED;
    if (!sample) return ERR_INVALID_ARGUMENT;
    *sample = calloc(1, sizeof **sample);
    return *sample ? OK : ERR_UNKNOWN;
}

#ifndef FAKE_NO_GPM_FREE
nvmlReturn_t nvmlGpmSampleFree(nvmlGpmSample_t sample) {
    if (!initialised) return ERR_UNINITIALIZED;
    free(sample);
    return OK;
}
#endif

static nvmlReturn_t gpm_take(nvmlDevice_t dev, int gi, nvmlGpmSample_t sample) {
    nvmlReturn_t r = dev_check(dev);
    if (r != OK) return r;
    if (!sample || is_mig(dev)) return ERR_INVALID_ARGUMENT;
    const char *supported = dev_key(dev, "gpm_supported");
    if (!supported || atoi(supported) != 1) return ERR_NOT_SUPPORTED;
    const char *err = dev_key(dev, "gpm_sample_error");
    if (err) return atoi(err);
    if (gi >= 0) {
        const char *mode = dev_key(dev, "mig_current");
        if (!mode || atoi(mode) != 1 || gi >= MAX_GI) return ERR_INVALID_ARGUMENT;
    }
    if (gpm_session != initialised) {
        memset(gpm_seq, 0, sizeof gpm_seq);
        gpm_session = initialised;
    }
    sample->filled = 1;
    sample->gpu = dev->index;
    sample->gi = gi;
    sample->seq = ++gpm_seq[dev->index][gi + 1];
    clock_gettime(CLOCK_MONOTONIC, &sample->at);
    return OK;
}

nvmlReturn_t nvmlGpmSampleGet(nvmlDevice_t dev, nvmlGpmSample_t sample) { return gpm_take(dev, -1, sample); }

nvmlReturn_t nvmlGpmMigSampleGet(nvmlDevice_t dev, unsigned int gpuInstanceId, nvmlGpmSample_t sample) {
    return gpm_take(dev, (int)gpuInstanceId, sample);
}

nvmlReturn_t nvmlGpmMetricsGet(nvmlGpmMetricsGet_t *m) {
    if (!initialised) return ERR_UNINITIALIZED;
    if (!m) return ERR_INVALID_ARGUMENT;
    if (m->version != GPM_METRICS_GET_VERSION) return 25;
    if (m->numMetrics > GPM_METRIC_MAX) return ERR_INVALID_ARGUMENT;
    nvmlGpmSample_t a = m->sample1, b = m->sample2;
    /* Two filled samples of the same GPU or instance, the first one older. */
    if (!a || !b || !a->filled || !b->filled || a->gpu != b->gpu || a->gi != b->gi || a->seq >= b->seq)
        return ERR_INVALID_ARGUMENT;
    char where[32], line[96];
    if (a->gi < 0)
        snprintf(where, sizeof where, "gpu%d", a->gpu);
    else
        snprintf(where, sizeof where, "gpu%d.gi%d", a->gpu, a->gi);
    long ms = (b->at.tv_sec - a->at.tv_sec) * 1000 + (b->at.tv_nsec - a->at.tv_nsec) / 1000000;
    snprintf(line, sizeof line, "gpm %s %ld-%ld %ld", where, a->seq, b->seq, ms);
    log_call(line);
    for (unsigned int i = 0; i < m->numMetrics; i++) {
        nvmlGpmMetric_t *metric = &m->metrics[i];
        char key[64];
        snprintf(key, sizeof key, "%s.gpm%u", where, metric->metricId);
        const char *list = get(key);
        metric->value = 0;
        metric->metricInfo.shortName = metric->metricInfo.longName = metric->metricInfo.unit = NULL;
        if (!list) {
            metric->nvmlReturn = ERR_NOT_SUPPORTED;
            continue;
        }
        /* The (k-1)-th entry for a pair ending in sample k; the last one beyond the list. */
        const char *p = list;
        for (long k = 2; k < b->seq; k++) {
            const char *comma = strchr(p, ',');
            if (!comma) break;
            p = comma + 1;
        }
        if (p[0] == '!') {
            metric->nvmlReturn = atoi(p + 1);
            continue;
        }
        metric->value = strtod(p, NULL);
        metric->nvmlReturn = OK;
    }
    return OK;
}
