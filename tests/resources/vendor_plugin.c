/*
 * libvendorplugin.so: a plugin loaded with dlopen that uses libvendor.so
 * (not a test itself). plugin_request() leaks the handle of every 10th call.
 */
struct vendor_ctx;
struct vendor_ctx *vendor_create(int config);
int vendor_run(struct vendor_ctx *c, int input);
int vendor_destroy(struct vendor_ctx *c);

__attribute__((noinline)) int plugin_request(int i)
{
    struct vendor_ctx *c = vendor_create(i);
    int r = vendor_run(c, i);
    if (i % 10 != 9)
        vendor_destroy(c);
    return r;
}

int plugin_requests(int n)
{
    int sum = 0;
    for (int i = 0; i < n; i++)
        sum += plugin_request(i);
    return sum;
}
