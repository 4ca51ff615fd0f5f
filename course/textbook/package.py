"""Textbook solutions of the package's student regions (see ``course.textbook``).

Written the way a good student of the original assignment writes them: temporaries, loops in the
naive layers, the state left to the given store-back in the optimizers, the student's own cache
tuples (deliberately different from the instructor's), mask-based inverted dropout drawing from
np.random. Instructor-only.
"""

from textwrap import dedent

LAYERS = "cs231n/layers.py"
NORM = "cs231n/normalization.py"
OPTIM = "cs231n/optim.py"
FC = "cs231n/classifiers/fc_net.py"
CNN = "cs231n/classifiers/cnn.py"


def _code(text):
    return dedent(text).lstrip("\n")


SOLUTIONS = {
    LAYERS: {
        "affine_forward": _code("""
            x_rows = x.reshape(x.shape[0], -1)
            out = x_rows.dot(w) + b
        """),
        "affine_backward": _code("""
            x_rows = x.reshape(x.shape[0], -1)
            dx = dout.dot(w.T).reshape(x.shape)
            dw = x_rows.T.dot(dout)
            db = np.sum(dout, axis=0)
        """),
        "relu_forward": _code("""
            out = np.maximum(0, x)
        """),
        "relu_backward": _code("""
            dx = dout * (x > 0)
        """),
        "dropout_forward": _code("""
            mask = (np.random.rand(*x.shape) < p) / p
            out = x * mask
        """),
        "dropout_forward#2": _code("""
            out = x
        """),
        "dropout_backward": _code("""
            dx = dout * mask
        """),
        "conv_forward_naive": _code("""
            N, C, H, W = x.shape
            F, _, HH, WW = w.shape
            stride, pad = conv_param['stride'], conv_param['pad']
            H_out = 1 + (H + 2 * pad - HH) // stride
            W_out = 1 + (W + 2 * pad - WW) // stride
            x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode='constant')
            out = np.zeros((N, F, H_out, W_out))
            for n in range(N):
                for f in range(F):
                    for i in range(H_out):
                        for j in range(W_out):
                            hs, ws = i * stride, j * stride
                            window = x_pad[n, :, hs:hs + HH, ws:ws + WW]
                            out[n, f, i, j] = np.sum(window * w[f]) + b[f]
        """),
        "conv_backward_naive": _code("""
            x, w, b, conv_param = cache
            N, C, H, W = x.shape
            F, _, HH, WW = w.shape
            stride, pad = conv_param['stride'], conv_param['pad']
            _, _, H_out, W_out = dout.shape
            x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode='constant')
            dx_pad = np.zeros_like(x_pad)
            dw = np.zeros_like(w)
            db = np.sum(dout, axis=(0, 2, 3))
            for n in range(N):
                for f in range(F):
                    for i in range(H_out):
                        for j in range(W_out):
                            hs, ws = i * stride, j * stride
                            dw[f] += x_pad[n, :, hs:hs + HH, ws:ws + WW] * dout[n, f, i, j]
                            dx_pad[n, :, hs:hs + HH, ws:ws + WW] += w[f] * dout[n, f, i, j]
            dx = dx_pad[:, :, pad:pad + H, pad:pad + W]
        """),
        "max_pool_forward_naive": _code("""
            N, C, H, W = x.shape
            ph, pw = pool_param['pool_height'], pool_param['pool_width']
            stride = pool_param['stride']
            H_out = 1 + (H - ph) // stride
            W_out = 1 + (W - pw) // stride
            out = np.zeros((N, C, H_out, W_out))
            for n in range(N):
                for c in range(C):
                    for i in range(H_out):
                        for j in range(W_out):
                            hs, ws = i * stride, j * stride
                            out[n, c, i, j] = np.max(x[n, c, hs:hs + ph, ws:ws + pw])
        """),
        "max_pool_backward_naive": _code("""
            x, pool_param = cache
            N, C, H, W = x.shape
            ph, pw = pool_param['pool_height'], pool_param['pool_width']
            stride = pool_param['stride']
            _, _, H_out, W_out = dout.shape
            dx = np.zeros_like(x)
            for n in range(N):
                for c in range(C):
                    for i in range(H_out):
                        for j in range(W_out):
                            hs, ws = i * stride, j * stride
                            window = x[n, c, hs:hs + ph, ws:ws + pw]
                            mask = window == np.max(window)
                            dx[n, c, hs:hs + ph, ws:ws + pw] += mask * dout[n, c, i, j]
        """),
    },
    NORM: {
        "batchnorm_forward": _code("""
            sample_mean = np.mean(x, axis=0)
            sample_var = np.var(x, axis=0)
            x_hat = (x - sample_mean) / np.sqrt(sample_var + eps)
            out = gamma * x_hat + beta
            cache = (x, x_hat, sample_mean, sample_var, gamma, beta, eps)
            running_mean = momentum * running_mean + (1 - momentum) * sample_mean
            running_var = momentum * running_var + (1 - momentum) * sample_var
        """),
        "batchnorm_forward#2": _code("""
            x_hat = (x - running_mean) / np.sqrt(running_var + eps)
            out = gamma * x_hat + beta
        """),
        "batchnorm_backward": _code("""
            x, x_hat, mu, var, gamma, beta, eps = cache
            N = x.shape[0]
            dbeta = np.sum(dout, axis=0)
            dgamma = np.sum(dout * x_hat, axis=0)
            dx_hat = dout * gamma
            xmu = x - mu
            std = np.sqrt(var + eps)
            ivar = 1.0 / std
            dxmu1 = dx_hat * ivar
            divar = np.sum(dx_hat * xmu, axis=0)
            dstd = -1.0 / (std ** 2) * divar
            dvar = 0.5 / std * dstd
            dsq = 1.0 / N * np.ones_like(x) * dvar
            dxmu2 = 2 * xmu * dsq
            dx1 = dxmu1 + dxmu2
            dmu = -1 * np.sum(dx1, axis=0)
            dx2 = 1.0 / N * np.ones_like(x) * dmu
            dx = dx1 + dx2
        """),
        "batchnorm_backward_alt": _code("""
            x, x_hat, mu, var, gamma, beta, eps = cache
            N = x.shape[0]
            dbeta = np.sum(dout, axis=0)
            dgamma = np.sum(dout * x_hat, axis=0)
            dx = gamma / (N * np.sqrt(var + eps)) * (N * dout - dbeta - x_hat * dgamma)
        """),
        "layernorm_forward": _code("""
            mu = np.mean(x, axis=1, keepdims=True)
            var = np.var(x, axis=1, keepdims=True)
            x_hat = (x - mu) / np.sqrt(var + eps)
            out = gamma * x_hat + beta
            cache = (x_hat, gamma, var, eps)
        """),
        "layernorm_backward": _code("""
            x_hat, gamma, var, eps = cache
            D = x_hat.shape[1]
            dbeta = np.sum(dout, axis=0)
            dgamma = np.sum(dout * x_hat, axis=0)
            dx_hat = dout * gamma
            dx = 1.0 / (D * np.sqrt(var + eps)) * (
                D * dx_hat - np.sum(dx_hat, axis=1, keepdims=True)
                - x_hat * np.sum(dx_hat * x_hat, axis=1, keepdims=True))
        """),
        "spatial_batchnorm_forward": _code("""
            N, C, H, W = x.shape
            x_flat = x.transpose(0, 2, 3, 1).reshape(-1, C)
            out_flat, cache = batchnorm_forward(x_flat, gamma, beta, bn_param)
            out = out_flat.reshape(N, H, W, C).transpose(0, 3, 1, 2)
        """),
        "spatial_batchnorm_backward": _code("""
            N, C, H, W = dout.shape
            dout_flat = dout.transpose(0, 2, 3, 1).reshape(-1, C)
            dx_flat, dgamma, dbeta = batchnorm_backward(dout_flat, cache)
            dx = dx_flat.reshape(N, H, W, C).transpose(0, 3, 1, 2)
        """),
        "spatial_groupnorm_forward": _code("""
            N, C, H, W = x.shape
            x_group = x.reshape(N, G, C // G, H, W)
            mean = np.mean(x_group, axis=(2, 3, 4), keepdims=True)
            var = np.var(x_group, axis=(2, 3, 4), keepdims=True)
            x_hat = ((x_group - mean) / np.sqrt(var + eps)).reshape(N, C, H, W)
            out = gamma * x_hat + beta
            cache = (x, x_hat, mean, var, gamma, beta, G, eps)
        """),
        "spatial_groupnorm_backward": _code("""
            x, x_hat, mean, var, gamma, beta, G, eps = cache
            N, C, H, W = x.shape
            dbeta = np.sum(dout, axis=(0, 2, 3), keepdims=True)
            dgamma = np.sum(dout * x_hat, axis=(0, 2, 3), keepdims=True)
            dx_hat = (dout * gamma).reshape(N, G, C // G, H, W)
            x_hat_g = x_hat.reshape(N, G, C // G, H, W)
            M = (C // G) * H * W
            dx = 1.0 / (M * np.sqrt(var + eps)) * (
                M * dx_hat - np.sum(dx_hat, axis=(2, 3, 4), keepdims=True)
                - x_hat_g * np.sum(dx_hat * x_hat_g, axis=(2, 3, 4), keepdims=True))
            dx = dx.reshape(N, C, H, W)
        """),
    },
    OPTIM: {
        "sgd_momentum": _code("""
            v = config['momentum'] * v - config['learning_rate'] * dw
            next_w = w + v
        """),
        "rmsprop": _code("""
            decay = config['decay_rate']
            cache = decay * cache + (1 - decay) * dw ** 2
            next_w = w - config['learning_rate'] * dw / (np.sqrt(cache) + config['epsilon'])
        """),
        "adam": _code("""
            beta1, beta2, eps = config['beta1'], config['beta2'], config['epsilon']
            t += 1
            m = beta1 * m + (1 - beta1) * dw
            mt = m / (1 - beta1 ** t)
            v = beta2 * v + (1 - beta2) * (dw ** 2)
            vt = v / (1 - beta2 ** t)
            next_w = w - config['learning_rate'] * mt / (np.sqrt(vt) + eps)
        """),
    },
    FC: {
        "TwoLayerNet.__init__": _code("""
            self.params['W1'] = normal(weight_scale, (input_dim, hidden_dim))
            self.params['b1'] = np.zeros(hidden_dim)
            self.params['W2'] = normal(weight_scale, (hidden_dim, num_classes))
            self.params['b2'] = np.zeros(num_classes)
        """),
        "TwoLayerNet.loss": _code("""
            W1, b1 = self.params['W1'], self.params['b1']
            W2, b2 = self.params['W2'], self.params['b2']
            h1, cache1 = affine_relu_forward(X, W1, b1)
            scores, cache2 = affine_forward(h1, W2, b2)
        """),
        "TwoLayerNet.loss#2": _code("""
            loss, dscores = softmax_loss(scores, y)
            loss += 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
            dh1, dW2, db2 = affine_backward(dscores, cache2)
            dX, dW1, db1 = affine_relu_backward(dh1, cache1)
            grads['W1'] = dW1 + self.reg * W1
            grads['b1'] = db1
            grads['W2'] = dW2 + self.reg * W2
            grads['b2'] = db2
        """),
        "FullyConnectedNet.__init__": _code("""
            layer_dims = [input_dim] + hidden_dims + [num_classes]
            for i in range(self.num_layers):
                self.params['W' + str(i + 1)] = normal(weight_scale, (layer_dims[i], layer_dims[i + 1]))
                self.params['b' + str(i + 1)] = np.zeros(layer_dims[i + 1])
                if self.normalization is not None and i < self.num_layers - 1:
                    self.params['gamma' + str(i + 1)] = np.ones(layer_dims[i + 1])
                    self.params['beta' + str(i + 1)] = np.zeros(layer_dims[i + 1])
        """),
        "FullyConnectedNet.loss": _code("""
            caches = {}
            out = X
            for i in range(1, self.num_layers):
                W, b = self.params['W%d' % i], self.params['b%d' % i]
                out, caches['affine%d' % i] = affine_forward(out, W, b)
                if self.normalization == 'batchnorm':
                    out, caches['norm%d' % i] = batchnorm_forward(
                        out, self.params['gamma%d' % i], self.params['beta%d' % i], self.bn_params[i - 1])
                elif self.normalization == 'layernorm':
                    out, caches['norm%d' % i] = layernorm_forward(
                        out, self.params['gamma%d' % i], self.params['beta%d' % i], self.bn_params[i - 1])
                out, caches['relu%d' % i] = relu_forward(out)
                if self.use_dropout:
                    out, caches['dropout%d' % i] = dropout_forward(out, self.dropout_param)
            L = self.num_layers
            scores, caches['affine%d' % L] = affine_forward(out, self.params['W%d' % L], self.params['b%d' % L])
        """),
        "FullyConnectedNet.loss#2": _code("""
            loss, dout = softmax_loss(scores, y)
            L = self.num_layers
            for i in range(1, L + 1):
                W = self.params['W%d' % i]
                loss += 0.5 * self.reg * np.sum(W * W)
            dout, dW, db = affine_backward(dout, caches['affine%d' % L])
            grads['W%d' % L] = dW + self.reg * self.params['W%d' % L]
            grads['b%d' % L] = db
            for i in range(L - 1, 0, -1):
                if self.use_dropout:
                    dout = dropout_backward(dout, caches['dropout%d' % i])
                dout = relu_backward(dout, caches['relu%d' % i])
                if self.normalization == 'batchnorm':
                    dout, grads['gamma%d' % i], grads['beta%d' % i] = batchnorm_backward_alt(
                        dout, caches['norm%d' % i])
                elif self.normalization == 'layernorm':
                    dout, grads['gamma%d' % i], grads['beta%d' % i] = layernorm_backward(
                        dout, caches['norm%d' % i])
                dout, dW, db = affine_backward(dout, caches['affine%d' % i])
                grads['W%d' % i] = dW + self.reg * self.params['W%d' % i]
                grads['b%d' % i] = db
        """),
    },
    CNN: {
        "ThreeLayerConvNet.__init__": _code("""
            C, H, W = input_dim
            self.params['W1'] = normal(stds[0], (num_filters, C, filter_size, filter_size))
            self.params['b1'] = np.zeros(num_filters)
            self.params['W2'] = normal(stds[1], (num_filters * (H // 2) * (W // 2), hidden_dim))
            self.params['b2'] = np.zeros(hidden_dim)
            self.params['W3'] = normal(stds[2], (hidden_dim, num_classes))
            self.params['b3'] = np.zeros(num_classes)
        """),
        "ThreeLayerConvNet.loss": _code("""
            out1, cache1 = conv_relu_pool_forward(X, W1, b1, conv_param, pool_param)
            out2, cache2 = affine_relu_forward(out1, W2, b2)
            scores, cache3 = affine_forward(out2, W3, b3)
        """),
        "ThreeLayerConvNet.loss#2": _code("""
            loss, dscores = softmax_loss(scores, y)
            loss += 0.5 * self.reg * (np.sum(W1 ** 2) + np.sum(W2 ** 2) + np.sum(W3 ** 2))
            dout2, dW3, db3 = affine_backward(dscores, cache3)
            dout1, dW2, db2 = affine_relu_backward(dout2, cache2)
            dX, dW1, db1 = conv_relu_pool_backward(dout1, cache1)
            grads['W1'] = dW1 + self.reg * W1
            grads['b1'] = db1
            grads['W2'] = dW2 + self.reg * W2
            grads['b2'] = db2
            grads['W3'] = dW3 + self.reg * W3
            grads['b3'] = db3
        """),
    },
}

VARIANTS = {}
MUTANTS = {}
