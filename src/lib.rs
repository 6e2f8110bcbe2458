//! cnn
